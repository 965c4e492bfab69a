"""What judging costs: per-model prices, the built-in table of common hosted models, and overrides.

A judgment's cost is its tokens times its model's prices. `input_tokens` counts the whole prompt
(`judge_agent.messages.Usage`); the part read from the provider's prompt cache is billed at the
cached price, the part written to it (Anthropic) at the cache-write price, the rest at the input
price. Prices change: the table says when it was read (`PRICES_AS_OF`), and `--price MODEL=IN,OUT`
or a judge file's `prices:` override it. Models on this machine (`local:`, `ollama:`) cost 0; a model
the table does not know has no price (None: costs are left out, never guessed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from judge_agent.errors import ConfigError
from judge_agent.messages import Usage

__all__ = [
    "PRICES_AS_OF",
    "Prices",
    "canonical_model",
    "one_price",
    "overridden",
    "parse_price",
    "parse_prices",
    "price_of",
    "priced",
]

#: When the table below was read from the vendors' pricing pages.
PRICES_AS_OF = "2026-11-27"
#: Providers that run the model on hardware the user already has: no per-token bill.
FREE_PROVIDERS = frozenset({"local", "ollama"})


class Prices(BaseModel):
    """A model's prices in dollars per million tokens. Cache prices default to the input price (a
    provider without prompt caching, or a price nobody gave: never cheaper than it may be)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    input_per_mtok: float = Field(ge=0, allow_inf_nan=False, validation_alias=AliasChoices("input_per_mtok", "input"))
    output_per_mtok: float = Field(
        ge=0, allow_inf_nan=False, validation_alias=AliasChoices("output_per_mtok", "output")
    )
    cached_input_per_mtok: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        validation_alias=AliasChoices("cached_input_per_mtok", "cached_input"),
        description="prompt tokens read from the provider's cache",
    )
    cache_write_per_mtok: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        validation_alias=AliasChoices("cache_write_per_mtok", "cache_write"),
        description="prompt tokens written to the cache (Anthropic)",
    )

    def cost(self, usage: Usage) -> float:
        """Dollars for `usage`; cache reads and writes are parts of `input_tokens`, priced apart."""
        cached = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        fresh = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens, 0)
        return (
            fresh * self.input_per_mtok
            + usage.cached_input_tokens * cached
            + usage.cache_write_tokens * write
            + usage.output_tokens * self.output_per_mtok
        ) / 1e6


def _openai(input: float, output: float, cached: float) -> Prices:
    return Prices(input_per_mtok=input, output_per_mtok=output, cached_input_per_mtok=cached)


def _anthropic(input: float, output: float) -> Prices:
    """Anthropic's prompt cache: reads at a tenth of the input price, 5-minute writes at 1.25 times."""
    return Prices(
        input_per_mtok=input,
        output_per_mtok=output,
        cached_input_per_mtok=round(input * 0.1, 6),
        cache_write_per_mtok=round(input * 1.25, 6),
    )


#: Standard (not batch, not priority) prices, dollars per million tokens, as of `PRICES_AS_OF`.
#: OpenAI: developers.openai.com/api/docs/pricing (input, output, cached input); Anthropic:
#: platform.claude.com/docs/en/about-claude/pricing (input, output; cache hits 0.1x, 5m writes 1.25x).
_TABLE: dict[str, Prices] = {
    "gpt-4o": _openai(2.50, 10.00, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "gpt-4.1": _openai(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "o3": _openai(2.00, 8.00, 0.50),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "gpt-5": _openai(1.25, 10.00, 0.125),
    "gpt-5-mini": _openai(0.25, 2.00, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-5.1": _openai(1.25, 10.00, 0.125),
    "gpt-5.2": _openai(1.75, 14.00, 0.175),
    "gpt-5.4": _openai(2.50, 15.00, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.50, 0.075),
    "claude-opus-4": _anthropic(15.00, 75.00),
    "claude-opus-4-1": _anthropic(15.00, 75.00),
    "claude-opus-4-5": _anthropic(5.00, 25.00),
    "claude-opus-4-6": _anthropic(5.00, 25.00),
    "claude-opus-4-7": _anthropic(5.00, 25.00),
    "claude-opus-4-8": _anthropic(5.00, 25.00),
    "claude-sonnet-4": _anthropic(3.00, 15.00),
    "claude-sonnet-4-5": _anthropic(3.00, 15.00),
    "claude-sonnet-4-6": _anthropic(3.00, 15.00),
    "claude-haiku-4-5": _anthropic(1.00, 5.00),
    "claude-3-7-sonnet": _anthropic(3.00, 15.00),
    "claude-3-5-haiku": _anthropic(0.80, 4.00),
}
FREE = Prices(input_per_mtok=0, output_per_mtok=0)
_FIELDS = frozenset(Prices.model_fields) | {"input", "output", "cached_input", "cache_write"}
#: A dated snapshot (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5-20250929`) or `-latest`, `-0` alias.
_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-0)$")


def canonical_model(model: str) -> str:
    """The name a model is priced under: lower case, a LiteLLM-style `openai/` prefix and a dated
    snapshot suffix dropped, Anthropic's dotted versions (`claude-sonnet-4.5`) dashed."""
    name = model.strip().lower().rpartition("/")[2]
    while (shorter := _SUFFIX.sub("", name)) != name:
        name = shorter
    return name.replace(".", "-") if name.startswith("claude") else name


def price_of(provider: str, model: str) -> Prices | None:
    """The built-in price of `provider:/model`: 0 on this machine's own models, None when unknown."""
    if provider in FREE_PROVIDERS:
        return FREE
    return _TABLE.get(canonical_model(model))


def priced(provider: str, model: str, overrides: Mapping[str, Prices]) -> Prices | None:
    """`model`'s price: an override naming it (by name, snapshot or `provider:/model`), else the table."""
    wanted = canonical_model(model)
    for name, prices in overrides.items():
        given, uri, named = name.partition(":/")
        if (canonical_model(named) == wanted and given == provider) if uri else canonical_model(name) == wanted:
            return prices
    return price_of(provider, model)


def one_price(value: object) -> bool:
    """Whether a `prices` option is one model's price (`Prices`, or its fields), not a mapping of models."""
    return isinstance(value, Prices) or (isinstance(value, Mapping) and bool(value) and set(value) <= _FIELDS)


def overridden(table: Mapping[str, Prices], given: object) -> object:
    """A `prices` option with `table` (a judge file's) under `given` (the caller's, which wins)."""
    if not table or one_price(given):
        return given
    return {**table, **given} if isinstance(given, Mapping) else dict(table)


def parse_price(text: str) -> tuple[str, Prices]:
    """`MODEL=IN,OUT[,CACHED]` (dollars per million tokens) → (MODEL, Prices), as `--price` takes it.

    Raises:
        ConfigError: one line saying what is wrong and the form expected.
    """
    model, equals, figures = text.partition("=")
    model = model.strip()
    usage = f"--price {text!r}: expected MODEL=IN,OUT[,CACHED] in dollars per million tokens, e.g. gpt-4o=2.5,10,1.25"
    if not equals or not model:
        raise ConfigError(usage)
    return model, _figures(figures, usage)


def parse_prices(value: object) -> dict[str, Prices]:
    """A `prices` mapping, as judge files write it: MODEL → "IN,OUT[,CACHED]" or {input, output,
    cached_input, cache_write} (dollars per million tokens), or `Prices`.

    Raises:
        ConfigError: naming the model whose price cannot be read (the caller says where it was).
    """
    if not isinstance(value, Mapping):
        raise ConfigError("map model names to 'IN,OUT[,CACHED]' or {input: ..., output: ..., cached_input: ...}")
    table: dict[str, Prices] = {}
    for model, given in value.items():
        if isinstance(given, str):
            table[str(model)] = _figures(given, f"{model}: expected 'IN,OUT[,CACHED]' dollars per million tokens")
            continue
        try:
            table[str(model)] = Prices.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"{model}{'.' + field if field else ''}: {error['msg']}") from None
    return table


def _figures(text: str, usage: str) -> Prices:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(usage)
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ConfigError(usage) from None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        raise ConfigError(f"{usage} (prices are numbers of 0 or more)")
    cached = numbers[2] if len(numbers) == 3 else None
    return Prices(input_per_mtok=numbers[0], output_per_mtok=numbers[1], cached_input_per_mtok=cached)
