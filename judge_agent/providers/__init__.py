"""Model providers, chosen by `provider:/model` URIs (as MLflow names models).

    openai:/gpt-4o-mini           OpenAI, or any OpenAI-compatible server via base_url / OPENAI_BASE_URL
    ollama:/qwen2.5:7b            a local Ollama (OpenAI-compatible endpoint on localhost:11434)
    anthropic:/claude-sonnet-4-5  Anthropic Messages API
    local:/qwen2.5-1.5b           a GGUF model on llama.cpp, offline (a known name or a file path)

Adding a provider is one module and one line in `_REGISTRY`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from judge_agent.errors import ConfigError
from judge_agent.providers.base import Prices, Provider, ToolChoice

__all__ = ["Prices", "Provider", "ToolChoice", "get_provider", "parse_model_uri"]

_REGISTRY = {
    "openai": "judge_agent.providers.openai:OpenAIProvider",
    "ollama": "judge_agent.providers.openai:OllamaProvider",
    "anthropic": "judge_agent.providers.anthropic:AnthropicProvider",
    "local": "judge_agent.providers.local:LocalProvider",
}
_URI = re.compile(r"^(?P<provider>[a-z][a-z0-9_-]*):/?(?P<model>\S.*)$")


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`openai:/gpt-4o` → ("openai", "gpt-4o"). Raises ConfigError naming the known providers."""
    match = _URI.match(uri.strip())
    if not match:
        raise ConfigError(f"model {uri!r} is not a provider:/model URI, e.g. openai:/gpt-4o-mini")
    provider = match.group("provider")
    if provider not in _REGISTRY:
        raise ConfigError(f"unknown model provider {provider!r} in {uri!r}; known: {', '.join(sorted(_REGISTRY))}")
    return provider, match.group("model").lstrip("/")


def get_provider(uri: str, **options: Any) -> Provider:
    """Build the provider for `uri`; options go to its constructor (api_key, base_url, client, prices, ...)."""
    provider, model = parse_model_uri(uri)
    module_name, class_name = _REGISTRY[provider].split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    if isinstance(options.get("prices"), dict):
        options["prices"] = Prices.model_validate(options["prices"])
    return cls(model, **options)
