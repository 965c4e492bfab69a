"""`local:/NAME_OR_PATH`: a GGUF model run offline by llama.cpp, with grammar-constrained tool calls.

Small local models "fail to use the tools": they answer in prose or emit JSON that does not
parse. Here every turn is decoded under a GBNF grammar built from the tools offered that turn,
so the output is always exactly one call to a real tool with arguments matching its schema
(ids match their schema's `pattern`; strings are capped at their `maxLength`, and never above a
decoding cap, so a small model cannot ramble to the token limit). The provider knows no tool:
which optional arguments a small model is offered, and how long a rationale may be, are decided
by the schemas the loop offers. The prompt is ChatML written by hand with Qwen's `<tool_call>` format, which
worked every time where llama.cpp's own function-calling chat handler did not.

The provider holds no loop logic; repeated-call guards and turn caps are the loop's.
llama.cpp objects block and are not thread-safe: generation runs in a worker thread under a
per-model lock, so the event loop (and the MCP session) stay responsive.

A blocking llama.cpp call cannot be cancelled from outside, so `timeout` is checked between
generated tokens (a stopping criterion): past it, generation stops and the turn fails with a
ProviderError. Reading the prompt is one uninterruptible call per batch of tokens, so a turn can
overrun the deadline by that much; `max_new_tokens` bounds the generation itself.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import anyio

from judge_agent.errors import ConfigError, ProviderError
from judge_agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from judge_agent.providers.base import Provider, ToolChoice
from judge_agent.providers.local_models import llama_cpp_available, resolve_model_file
from judge_agent.providers.prices import Prices

logger = logging.getLogger("judge_agent")

MAX_STRING_CHARS = 300  # a string whose schema gives no maxLength
MAX_DECODED_CHARS = 500  # the most any string may have, whatever its schema says
MAX_ARRAY_ITEMS = 8
#: Tokens kept free beyond the prompt's count (BOS handling), and the least room worth asking for.
ROOM_MARGIN = 8
MIN_ANSWER_TOKENS = 64
MAX_NEW_TOKENS = 1024  # above the longest call the grammar allows (a 500-char string, 8 ids), so none is cut
_STRING_CHAR = 'char ::= [^"\\\\]'
_STRICT_STRING_CHAR = 'char ::= [^"\\\\<\\x00-\\x1F]'
_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')
_DROPPED_KEYS = ("title", "description", "default", "examples")

_models: dict[str, tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


class LocalProvider(Provider):
    """A GGUF model on llama.cpp: a known model name (see `judge_agent.providers.local_models`) or a file path.

    `timeout` is seconds of generation per model turn, counted once the model is free (None: no
    deadline; `max_new_tokens` bounds the turn); see the module docstring for what it cannot stop.
    """

    name = "local"
    default_context_window = 8192
    consistent_params: ClassVar[Mapping[str, Any]] = {"temperature": 0, "seed": 0}  # what complete() falls back on

    def __init__(
        self,
        model: str,
        *,
        context_window: int | None = None,
        threads: int | None = None,
        max_new_tokens: int = MAX_NEW_TOKENS,
        timeout: float | None = None,
        prices: Prices | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not llama_cpp_available():
            raise ConfigError(
                "the local: provider needs llama-cpp-python: pip install 'judge-agent[local]' "
                "(it builds from source, ~6 minutes on 2 cores)"
            )
        self.path, known = resolve_model_file(model)
        super().__init__(
            model, context_window=context_window or (known.context_window if known else None), prices=prices
        )
        self.threads = threads or free_cores()
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self._tool_docs: dict[str, str] = {}
        self._calls = 0

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Completion:
        if not tools:
            raise ProviderError(self.name, "the local provider answers through tools; none were offered")
        prompt = self.render(messages, tools)
        grammar_text = tool_call_grammar(tools)
        return await anyio.to_thread.run_sync(self._generate, prompt, grammar_text, dict(params or {}))

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> str:
        """The conversation as ChatML, ending where the assistant's tool call begins.

        The tool list in the system turn is the one first offered for that system prompt, so a
        tool left out for a turn does not change the prompt's prefix (llama.cpp then reuses its
        cache of the prefix instead of reading the whole conversation again).
        """
        parts: list[str] = []
        pending_results: list[str] = []

        def flush_results() -> None:
            if pending_results:
                parts.append(_turn("user", "\n".join(pending_results)))
                pending_results.clear()

        for message in messages:
            if message.role == "tool":
                status = "error" if message.is_error else "ok"
                pending_results.append(
                    f'<tool_response name="{message.tool_name}" status="{status}">\n{message.content}\n</tool_response>'
                )
                continue
            flush_results()
            if message.role == "system":
                docs = self._tool_docs.setdefault(message.content, tools_prompt(tools))
                parts.append(_turn("system", f"{message.content}\n\n{docs}"))
            elif message.role == "assistant":
                calls = "\n".join(_tool_call_text(c) for c in message.tool_calls)
                parts.append(_turn("assistant", "\n".join(p for p in (message.content, calls) if p)))
            else:
                parts.append(_turn("user", message.content))
        flush_results()
        return "".join(parts) + "<|im_start|>assistant\n<tool_call>\n"

    def _generate(self, prompt: str, grammar_text: str, params: dict[str, Any]) -> Completion:
        import llama_cpp

        llm, lock = self._model()
        grammar = llama_cpp.llama_grammar.LlamaGrammar.from_string(grammar_text, verbose=False)
        with lock:
            started = time.perf_counter()
            # llama.cpp refuses a prompt whose length plus max_tokens passes the window, even when
            # the answer would fit: ask for no more than the room left (the grammar bounds a call)
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            reused = cached_prefix(llm.input_ids, tokens)
            room = self.context_window - len(tokens) - ROOM_MARGIN
            if room < MIN_ANSWER_TOKENS:
                raise ProviderError(
                    self.name, f"the conversation fills the context window ({self.context_window} tokens)"
                )
            try:
                response: Any = llm.create_completion(
                    prompt,
                    grammar=grammar,
                    stopping_criteria=self._deadline(started),
                    max_tokens=min(int(params.get("max_tokens", self.max_new_tokens)), room),
                    temperature=float(params.get("temperature", 0.0)),
                    seed=int(params.get("seed", 0)),
                    # No stop strings: the grammar ends the call, and a stop string inside a JSON string
                    # (a small model wrote "<|im_end|>" into its rationale) would cut the call short.
                )
            except ValueError as exc:  # llama.cpp raises ValueError when the prompt exceeds the context
                raise ProviderError(self.name, f"{exc} (context window {self.context_window} tokens)") from exc
        elapsed = time.perf_counter() - started
        if self.timeout is not None and elapsed > self.timeout:
            raise ProviderError(self.name, f"no complete answer within {self.timeout:g} s (took {elapsed:.1f} s)")
        usage = response.get("usage") or {}
        prompt_tokens, generated = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        logger.debug(
            "local model: %d prompt tokens (%d reused from the cache), %d generated in %.1f s",
            prompt_tokens,
            reused,
            generated,
            elapsed,
        )
        self._calls += 1
        return _parse(response["choices"][0]["text"], f"local_{self._calls}", Usage(prompt_tokens, generated))

    def _deadline(self, started: float) -> Any:
        """A llama.cpp stopping criterion that ends generation once `timeout` has passed (None without one)."""
        if self.timeout is None:
            return None
        import llama_cpp

        deadline = started + self.timeout
        return llama_cpp.StoppingCriteriaList([lambda _tokens, _logits: time.perf_counter() > deadline])

    def _model(self) -> tuple[Any, threading.Lock]:
        key = f"{self.path}:{self.context_window}"
        with _models_lock:
            if key not in _models:
                import llama_cpp

                logger.debug("loading %s (context %d, %d threads)", self.path, self.context_window, self.threads)
                llm = llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=self.context_window,
                    n_threads=self.threads,
                    verbose=False,
                )
                _models[key] = (llm, threading.Lock())
                if len(_models) == 1:
                    atexit.register(_close_models)
            return _models[key]


def free_cores() -> int:
    """Every core, unless the machine is oversubscribed (a 1-minute load average above the core
    count): then one thread fewer per extra unit of load, at least one. llama.cpp's threads wait for
    each other at every layer, so a thread without a core of its own stalls the rest (on 2 cores at
    load ~11, smollm2 took 10 s for a turn with 1 thread and over 120 s with 2). Below the core count
    the average is mostly work that has ended (the pip install before a first judgment): all cores."""
    cores = os.cpu_count() or 1
    excess = os.getloadavg()[0] - cores
    return cores if excess <= 0 else max(1, cores - math.ceil(excess))


def cached_prefix(cached: Sequence[int], tokens: Sequence[int]) -> int:
    """How many of `tokens` llama.cpp finds in its cache (the common prefix with what it last read
    and wrote): only the rest is read again, so a turn costs its new tokens when the prefix holds."""
    shared = 0
    for old, new in zip(cached, tokens, strict=False):
        if old != new:
            break
        shared += 1
    return min(shared, len(tokens) - 1)  # llama.cpp reads at least one token to get fresh logits


def _close_models() -> None:
    """Free llama.cpp models before interpreter teardown (their finalizers fail once modules are gone)."""
    with _models_lock:
        for llm, _ in _models.values():
            llm.close()
        _models.clear()


def tools_prompt(tools: Sequence[ToolSpec]) -> str:
    """The tool list in Qwen2.5's function-calling format."""
    signatures = "\n".join(
        json.dumps(
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": _compact(t.input_schema)},
            },
            ensure_ascii=False,
        )
        for t in tools
    )
    return (
        "# Tools\n\nYou may call one function per turn to investigate. The function signatures:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "Answer every turn with one call, as a JSON object with the function name and arguments:\n"
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def tool_call_grammar(tools: Sequence[ToolSpec]) -> str:
    """GBNF allowing exactly one call to one of `tools`, with arguments matching its schema."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": constrain(t.input_schema)},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for t in tools
        ]
    }
    grammar = str(json_schema_to_gbnf(json.dumps(schema), prop_order=["name", "arguments"]))
    # Strings may not hold control characters or "<": a small model otherwise writes chat markup
    # ("</tool_call>", "<|im_end|>") into a string and rambles on to the length cap instead of closing it.
    return grammar.replace(_STRING_CHAR, _STRICT_STRING_CHAR, 1)


def constrain(schema: Any) -> Any:
    """A tool's argument schema tightened for decoding: optional means omitted (not null), strings
    and arrays are capped, no extra properties. Patterns and lengths the schema gives are kept."""
    if isinstance(schema, list):
        return [constrain(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    variants = schema.get("anyOf")
    if isinstance(variants, list):
        kept = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(kept) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            return constrain({**merged, **kept[0]})
    out = {k: constrain(v) for k, v in schema.items() if k not in _DROPPED_KEYS}
    if "properties" in schema:
        out["properties"] = {name: constrain(sub) for name, sub in schema["properties"].items()}
        out["additionalProperties"] = False
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out["maxLength"] = min(int(out.get("maxLength", MAX_STRING_CHARS)), MAX_DECODED_CHARS)
        if "minLength" in out:
            out["minLength"] = min(int(out["minLength"]), out["maxLength"])
    if out.get("type") == "array":
        out["maxItems"] = min(int(out.get("maxItems", MAX_ARRAY_ITEMS)), MAX_ARRAY_ITEMS)
    return out


def _compact(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the prompt shows it: property names, types and descriptions only."""
    properties = {
        name: {
            k: v for k, v in sub.items() if k in ("type", "description", "enum", "anyOf", "items", "minimum", "maximum")
        }
        for name, sub in (schema.get("properties") or {}).items()
    }
    return {"type": "object", "properties": properties, "required": schema.get("required", [])}


def _parse(text: str, call_id: str, usage: Usage) -> Completion:
    try:
        call = json.loads(text, strict=False)  # the grammar lets raw newlines into strings
        name, arguments = call["name"], call["arguments"]
        if not isinstance(arguments, dict):
            raise TypeError("arguments is not an object")
    except (ValueError, KeyError, TypeError) as exc:  # only when max_tokens cut the call short
        named = _NAME.search(text)
        name = named.group(1) if named else "unknown"
        error = f"the call was cut short ({exc}); make it shorter"
        return Completion(text="", tool_calls=(ToolCall(call_id, name, {}, arguments_error=error),), usage=usage)
    return Completion(text="", tool_calls=(ToolCall(call_id, str(name), arguments),), usage=usage)


def _tool_call_text(call: ToolCall) -> str:
    return (
        f"<tool_call>\n{json.dumps({'name': call.name, 'arguments': call.arguments}, ensure_ascii=False)}\n</tool_call>"
    )


def _turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"
