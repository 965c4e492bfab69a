"""Judging every span of a kind: which spans (`SpanFilter`), and what a span-scoped judge is shown.

A judge whose instructions use a span variable (`{{ span }}`, `{{ span_inputs }}`, `{{ span_outputs }}`,
`{{ parent }}`) gives one verdict per span, as Langfuse's and Datadog's observation-level evaluators
do: `evaluate --each-span retriever` makes every retrieval span of the data an item (keyed by trace and
span id), and the judge reads that span. Without `{{ trace }}` it is a plain judge (one model call per
span, no tools); with it, an agent that may investigate the rest of the trace around the span.

What the variables hold comes from the tools' own views (GetSpan's result for `{{ span }}` and
`{{ parent }}`, `TraceIndex.show` for the inputs and outputs), so a span judge sees exactly what an agent
would read: redacted by the store and bounded by the tools' limits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judge_agent import prompts
from judge_agent.errors import ConfigError
from trace_tools import conventions, tools
from trace_tools.bounds import cut
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.model import Span, Trace
from trace_tools.text import as_text

#: Characters of each long value in `{{ span }}` (GetSpan's default; its whole answer stays within its bound).
SPAN_CHARS = 2000
#: Characters of the span's inputs or outputs put into the prompt (the GetSpan view has its own budget).
FIELD_CHARS = 8000
#: Characters of each of the parent's values: it is context for the span, not what is judged.
PARENT_CHARS = 1000
#: Words people use for a kind of span that are not a producer's own (`retrieval` for RETRIEVER spans).
_ALIASES = {"RETRIEVAL": "RETRIEVER", "TOOL_CALL": "TOOL", "LLM_CALL": "LLM"}


class SpanFilter(BaseModel):
    """Which spans a span-scoped judge judges: a type (the common one, e.g. RETRIEVER, TOOL, LLM, or the
    producer's word, e.g. CHAT_MODEL, generation), and/or text the span's name contains (any case)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str | None = Field(default=None, min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("type")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        word = value.strip().upper()
        return _ALIASES.get(word, word)

    @model_validator(mode="after")
    def _something(self) -> SpanFilter:
        if self.type is None and self.name is None:
            raise ValueError("a span filter needs a type or a name")
        return self

    @classmethod
    def parse(cls, text: str) -> SpanFilter:
        """`retriever` (a type), `type=tool`, `name=search`, or both: `type=tool,name=search`.

        Raises:
            ConfigError: an unknown part or an empty filter, with the accepted forms.
        """
        fields: dict[str, str] = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                key, value = "type", key
            key = key.strip().lower()
            if key not in ("type", "name") or not value.strip() or key in fields:
                raise ConfigError(
                    f"span filter {text[:100]!r}: use a type (retriever, tool, llm...), type=TYPE, name=TEXT "
                    "or type=TYPE,name=TEXT"
                )
            fields[key] = value.strip()
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise ConfigError(f"span filter {text[:100]!r}: {exc.errors()[0]['msg']}") from exc

    def matches(self, span: Span) -> bool:
        """Whether the span is of the type and has the name, as ListSpans' filters read them."""
        if self.type is not None and self.type not in conventions.type_names(span):
            return False
        return self.name is None or self.name.lower() in span.name.lower()

    def describe(self) -> str:
        """How the filter reads in messages: 'RETRIEVER spans', 'TOOL spans named like "search"'."""
        kind = f"{self.type} spans" if self.type else "spans"
        return f'{kind} named like "{self.name}"' if self.name else kind


def absent(filter_: SpanFilter, traces: Iterable[Trace]) -> str:
    """Why no span matched, naming the types the traces do have (a typo in the type is the usual cause)."""
    counts = Counter(span.span_type for trace in traces for span in trace.spans)
    if not counts:
        return f"no {filter_.describe()}: the traces have no spans"
    shown = ", ".join(f"{kind} {count}" for kind, count in counts.most_common(8))
    return f"no {filter_.describe()} in the data (its span types: {shown})"


def span_variables(index: TraceIndex, span_id: str) -> dict[str, str]:
    """The span variables' text for one span of an indexed trace, each fenced as data: the span as GetSpan
    shows it, its inputs and outputs (as the tools show them: masked unless the store was opened with
    redact=False, and bounded), and its parent's GetSpan view.

    Raises:
        SpanNotFoundError: the trace has no such span.
    """
    span = index.span(span_id)
    parent = index.trace.by_id.get(span.parent_id) if span.parent_id else None
    inputs = _bounded(index.show(span.inputs_key, span.inputs), FIELD_CHARS)
    outputs = _bounded(index.show(span.outputs_key, span.outputs), FIELD_CHARS)
    return {
        "span": prompts.data_block("span", _view(index, span, SPAN_CHARS)),
        "span_inputs": prompts.data_block("span_inputs", inputs) if inputs is not None else "(not recorded)",
        "span_outputs": prompts.data_block("span_outputs", outputs) if outputs is not None else "(not recorded)",
        "parent": prompts.data_block("parent", _view(index, parent, PARENT_CHARS)) if parent else "(none: a root span)",
    }


def _view(index: TraceIndex, span: Span, chars: int) -> str:
    """The span as the GetSpan tool answers (compact JSON, redacted, within the tools' response bound)."""
    return tools.get_span(TraceStore([index]), span.span_id, max_content_chars=chars).to_json()


def _bounded(value: Any, limit: int) -> Any:
    """Short values as they are; a long one as its text cut with the tools' marker."""
    if value is None:
        return None
    text = value if isinstance(value, str) else as_text(value)
    return value if len(text) <= limit else cut(text, limit)
