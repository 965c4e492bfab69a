"""What the SDK-backed providers (openai, anthropic) share: building the client, closing it, the
deadline of a model turn, and translating the SDK's errors.

Both official SDKs have the same shape: an async client built from (api_key, base_url,
max_retries, timeout) that has `base_url` and `close()`, and the same error classes, raised
after the SDK's own retries. A provider on such an SDK says how to build its client and turns
messages into its wire format; the rest is here.

The SDKs' own timeout bounds each read, and restarts with every byte: a server that trickles a
byte every few seconds would hold a turn forever, retries included. `SdkProvider.request` puts
one deadline over the whole turn.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import ClassVar, Generic, Protocol, TypeVar

import anyio

from judge_agent.errors import ConfigError, ProviderError, RateLimitError
from judge_agent.providers.base import Provider
from judge_agent.providers.prices import Prices
from judge_agent.providers.wire import (
    PLACEHOLDER_KEY,
    MalformedResponse,
    api_error_message,
    connection_cause,
    error_body,
    one_line,
    resolve_api_key,
)

#: Seconds a model turn may take in all, the SDK's retries included.
DEFAULT_TIMEOUT_S = 120.0
#: What a response the SDK or our conversion cannot read raises (pydantic's ValidationError is a
#: ValueError; a body nested 100k deep is a RecursionError).
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


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
        timeout: seconds a model turn may take in all (every attempt and the waits between them):
            past it the turn fails with a ProviderError. Also each attempt's read timeout.

    Raises:
        MissingAPIKeyError: no key and no custom base URL.
        ConfigError: a timeout that is not a positive number of seconds.
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
        timeout: float = DEFAULT_TIMEOUT_S,
        context_window: int | None = None,
        prices: Prices | None = None,
    ) -> None:
        super().__init__(model, context_window=context_window, prices=prices)
        if not timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.timeout = float(timeout)
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

    @asynccontextmanager
    async def request(self, sdk: ModuleType) -> AsyncIterator[None]:
        """One model turn (the SDK call and reading its response) under the turn's deadline, with
        every failure as ours: 429 → RateLimitError; other statuses, timeouts, unreachable servers
        and responses that cannot be read → ProviderError, each one line naming what failed."""
        try:
            with anyio.fail_after(self.timeout):
                yield
        except TimeoutError as exc:
            message = f"no complete answer within {self.timeout:g} s from {self.base_url}"
            raise ProviderError(self.name, message) from exc
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
        except (sdk.APIError, *_UNREADABLE) as exc:  # e.g. a 200 with HTML, truncated JSON, "message": null
            problem = str(exc) if isinstance(exc, MalformedResponse) else f"{type(exc).__name__}: {exc}"
            raise ProviderError(self.name, f"unusable response from {self.base_url}: {one_line(problem)}") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()
