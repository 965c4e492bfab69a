"""The one interface every model provider implements: messages and tools in, one turn out.

Providers translate; they hold no loop logic (limits, repair, repeated-call guards live in
`judge_agent.loop`). Vendor SDKs are imported only when a provider is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from judge_agent.messages import Completion, Message, ToolSpec
from judge_agent.providers.prices import Prices, price_of

ToolChoice = Literal["auto", "required"]


class Provider(ABC):
    """A model behind a `provider:/model` URI.

    Subclasses set `name`, `key_env_var` and `default_context_window`, and implement `complete`.
    `prices` default to the built-in table's (`judge_agent.providers.prices`): None for a model it
    does not know, whose judgments then have no cost.
    """

    name: ClassVar[str]
    key_env_var: ClassVar[str | None] = None
    default_context_window: ClassVar[int] = 128_000
    #: What a judgment sends unless its judge says otherwise: a judge should give the same verdict
    #: on the same trace twice, and an API's default sampling (OpenAI's temperature 1.0) does not.
    consistent_params: ClassVar[Mapping[str, Any]] = {"temperature": 0}

    def __init__(self, model: str, *, context_window: int | None = None, prices: Prices | None = None) -> None:
        self.model = model
        self.context_window = context_window or self.default_context_window
        self.prices = prices if prices is not None else price_of(self.name, model)

    @property
    def uri(self) -> str:
        return f"{self.name}:/{self.model}"

    def sampling(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The inference parameters a judgment sends: `consistent_params` under the judge's own
        (`inference_params`); a judge's `None` removes a default (for a server that refuses it)."""
        merged = {**self.defaults(), **params}
        return {key: value for key, value in merged.items() if value is not None}

    def defaults(self) -> Mapping[str, Any]:
        """This model's consistent defaults (a provider may know models that refuse some)."""
        return self.consistent_params

    @abstractmethod
    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Completion:
        """One model turn.

        Args:
            messages: the conversation so far; the first may be a system message.
            tools: tools the model may call this turn (may be empty).
            tool_choice: "required" forces a tool call (used to demand the verdict).
            params: inference parameters passed through (temperature, max_tokens, ...).

        Raises:
            ProviderError: the API failed (RateLimitError for 429 after the SDK's retries).
        """

    async def aclose(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release network clients (no-op by default)."""
