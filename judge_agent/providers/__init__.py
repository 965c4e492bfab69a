"""Model providers, chosen by `provider:/model` URIs (as MLflow names models).

    openai:/gpt-4o-mini           OpenAI, or any OpenAI-compatible server via base_url / OPENAI_BASE_URL
    ollama:/qwen2.5:7b            a local Ollama (OpenAI-compatible endpoint on localhost:11434)
    anthropic:/claude-sonnet-4-5  Anthropic Messages API
    local:/qwen2.5-1.5b           a GGUF model on llama.cpp, offline (a known name or a file path)

Adding a provider is one module and one line in `_REGISTRY`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

from judge_agent.errors import ConfigError
from judge_agent.providers.base import Provider, ToolChoice
from judge_agent.providers.prices import Prices, one_price, parse_prices, priced

__all__ = ["Prices", "Provider", "ToolChoice", "get_provider", "parse_model_uri", "suggest_model_uri"]

_REGISTRY = {
    "openai": "judge_agent.providers.openai:OpenAIProvider",
    "ollama": "judge_agent.providers.openai:OllamaProvider",
    "anthropic": "judge_agent.providers.anthropic:AnthropicProvider",
    "local": "judge_agent.providers.local:LocalProvider",
}
_URI = re.compile(r"^(?P<provider>[a-z][a-z0-9_-]*):/?(?P<model>\S.*)$")


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`openai:/gpt-4o` → ("openai", "gpt-4o").

    Raises:
        ConfigError: not a URI, or an unknown provider; the message suggests the URI a bare
            model name most likely meant (`gpt-4o-mini` → `openai:/gpt-4o-mini`).
    """
    match = _URI.match(uri.strip())
    if not match:
        raise ConfigError(f"model {uri!r} is not a provider:/model URI: did you mean {suggest_model_uri(uri)}?")
    provider = match.group("provider")
    if provider not in _REGISTRY:
        known = f"unknown model provider {provider!r} in {uri!r}; known: {', '.join(sorted(_REGISTRY))}"
        raise ConfigError(known if ":/" in uri else f"{known}: did you mean {suggest_model_uri(uri)}?")
    return provider, match.group("model").lstrip("/")


def suggest_model_uri(name: str) -> str:
    """The URI a model name given without its provider most likely means: `openai/gpt-4o` (the
    LiteLLM way) is `openai:/gpt-4o`, claude names are Anthropic's, `name:tag` (`qwen2.5:7b`) is
    Ollama's way, a known offline model or a .gguf file is local, anything else is taken for
    OpenAI (or an OpenAI-compatible server)."""
    from judge_agent.providers.local_models import KNOWN_MODELS

    name = name.strip()
    provider, slash, model = name.partition("/")
    if slash and provider in _REGISTRY and model:
        return f"{provider}:/{model}"
    if "claude" in name.lower():
        return f"anthropic:/{name}"
    if name in KNOWN_MODELS or name.lower().endswith(".gguf"):
        return f"local:/{name}"
    if ":" in name:
        return f"ollama:/{name}"
    return f"openai:/{name}"


def get_provider(uri: str, **options: Any) -> Provider:
    """Build the provider for `uri`; options go to its constructor (api_key, base_url, client, ...).

    `prices` is this model's `Prices` (or their fields as a dict), or a mapping of model names to
    `Prices` (`--price`, a judge file's `prices:`) of which the one naming this model is taken; a
    model none names is priced from the built-in table.

    Raises:
        ConfigError: a bad URI, or prices that are not numbers of 0 or more.
    """
    provider, model = parse_model_uri(uri)
    module_name, class_name = _REGISTRY[provider].split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    given = options.get("prices")
    if isinstance(given, Mapping):
        try:
            table = parse_prices({model: given} if one_price(given) else given)
        except ConfigError as exc:
            raise ConfigError(f"prices for {uri}: {exc}") from None
        options["prices"] = priced(provider, model, table)
    accepted = inspect.signature(cls.__init__).parameters
    unaccepted = sorted(o for o in options if o not in accepted)
    if unaccepted and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise ConfigError(f"{uri}: the {provider}: provider takes no {', '.join(unaccepted)} option")
    return cls(model, **options)
