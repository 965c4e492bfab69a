"""What the SDK-backed providers (openai, anthropic) share: building the client, closing it, and
translating the SDK's errors.

Both official SDKs have the same shape: an async client built from (api_key, base_url,
max_retries, timeout) that has `base_url` and `close()`, and the same four error classes, raised
after the SDK's own retries. A provider on such an SDK says how to build its client and turns
messages into its wire format; the rest is here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import ClassVar, Generic, Protocol, TypeVar

from judge_agent.errors import ProviderError, RateLimitError
from judge_agent.providers.base import Prices, Provider
from judge_agent.providers.wire import PLACEHOLDER_KEY, api_error_message, connection_cause, error_body, resolve_api_key


class SdkClient(Protocol):
    @property
    def base_url(self) -> object: ...

    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=SdkClient)


class SdkProvider(Provider, Generic[ClientT]):
    """A provider on a vendor SDK's async client.

    Args:
        model: the model name the API knows.
        api_key: overrides `key_env_var`; optional when a custom base URL is set (local servers ignore it).
        base_url: default the SDK's own environment variable (`base_url_env`), then the vendor's API.
        client: an SDK client to use instead of building one (tests, custom transports); left open.
        max_retries: the SDK's retry budget for 408/409/429/5xx and connection errors.
        timeout: seconds per request.

    Raises:
        MissingAPIKeyError: no key and no custom base URL.
    """

    base_url_env: ClassVar[str]
    #: Sent when a custom base_url needs no key: the SDKs insist on one.
    placeholder_key: ClassVar[str] = PLACEHOLDER_KEY

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: ClientT | None = None,
        max_retries: int = 2,
        timeout: float = 120.0,
        context_window: int | None = None,
        prices: Prices | None = None,
    ) -> None:
        super().__init__(model, context_window=context_window, prices=prices)
        self._owns_client = client is None
        if client is None:
            base_url = base_url or self._default_base_url()
            key = resolve_api_key(
                self.name, api_key, self.key_env_var, base_url, self.base_url_env, self.placeholder_key
            )
            # An explicit key also keeps an SDK from looking for other credentials; base_url=None
            # lets it read its own environment variable.
            client = self._build_client(key, base_url, max_retries, timeout)
        self._client: ClientT = client

    @abstractmethod
    def _build_client(self, api_key: str, base_url: str | None, max_retries: int, timeout: float) -> ClientT:
        """The SDK's async client (the SDK is imported here, when a provider is built)."""

    def _default_base_url(self) -> str | None:
        return None

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    @contextmanager
    def translate_errors(self, sdk: ModuleType) -> Iterator[None]:
        """The SDK's errors as ours: 429 → RateLimitError, other statuses, timeouts and unreachable
        servers → ProviderError, each one line naming what failed."""
        try:
            yield
        except sdk.RateLimitError as exc:
            message = api_error_message(exc.body, exc.message)
            raise RateLimitError(self.name, message, 429, error_body(exc.body)) from exc
        except sdk.APIStatusError as exc:
            message = api_error_message(exc.body, exc.message)
            raise ProviderError(self.name, message, exc.status_code, error_body(exc.body)) from exc
        except sdk.APITimeoutError as exc:
            raise ProviderError(self.name, f"request to {self.base_url} timed out") from exc
        except sdk.APIConnectionError as exc:
            raise ProviderError(self.name, f"cannot reach {self.base_url}: {connection_cause(exc)}") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()
