"""What GetSpan and ListSpans show of a span's content (issue 16): inputs and outputs that no
`attributes` list can hide, shown once; ListSpans' preview column, bounded and redacted."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp.client import Client

from tests.trace_tools.helpers import load_one, otlp_span, single_span_store, span_id, store_of
from tests.trace_tools.test_tools import LIMIT, all_pages, tree_trace
from trace_tools import bounds, tools
from trace_tools.index import TraceStore
from trace_tools.redaction import REDACTED
from trace_tools.results import SPAN_ROW_COLUMNS, PreviewRow, SpanRow
from trace_tools.server import build_server
from trace_tools.views import glimpse

OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3
STEP_MESSAGE = "WebSurfer: I clicked the second result, the 2019 report, which lists 34 stations."


def preview_of(row: SpanRow | PreviewRow) -> str | None:
    """A row's preview column (None for a row without one)."""
    return next(iter(row[10:]), None)


def only_preview(store: TraceStore, chars: int) -> str | None:
    """The preview of the one span of `store`."""
    (row,) = tools.list_spans(store, preview_chars=chars).rows
    assert len(row) == 11
    return preview_of(row)


def conversation() -> TraceStore:
    """A multi-agent log as the issue saw it: each step a child span whose agent message is output.value."""
    spans = [otlp_span("magentic_one.run", 1, duration_ms=100, attributes={"input.value": "How many stations?"})]
    for n, agent in enumerate(["Orchestrator", "WebSurfer", "Orchestrator", "Assistant"], start=2):
        message = STEP_MESSAGE if agent == "WebSurfer" else f"{agent}: step {n} " + "words " * 30
        attributes = {
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"messages": [{"role": "user", "content": f"context of step {n}"}]}),
            "output.value": message,
            "agent.name": agent,
        }
        spans.append(otlp_span(f"step {n}: {agent}", n, 1, start_ms=n, attributes=attributes))
    return store_of(load_one(spans))


# --- GetSpan: content always shown, never twice ---------------------------------------------------


def test_get_span_shows_inputs_and_outputs_whatever_attributes_names() -> None:
    store = conversation()
    for names in (
        ["openinference.span.kind", "input.value"],  # what the 1.5B model copied from earlier results
        ["openinference.span.kind"],
        ["inputs"],
        ["no.such.attribute"],
        ["inputs", "outputs", "events", "links"],
    ):
        detail = tools.get_span(store, span_id(3), attributes=names)
        assert detail.outputs == STEP_MESSAGE, names
        assert detail.inputs and "context of step 3" in json.dumps(detail.inputs), names
        assert (detail.inputs_source, detail.outputs_source) == ("input.value", "output.value")
    narrowed = tools.get_span(store, span_id(3), attributes=["openinference.span.kind", "input.value"])
    assert narrowed.attributes == {"openinference.span.kind": "AGENT"}, "narrowed: agent.name left out"
    assert narrowed.notes is None
    unknown = tools.get_span(store, span_id(3), attributes=["no.such.attribute"])
    assert unknown.notes and any("no such attribute(s) on this span: no.such.attribute" in n for n in unknown.notes)


@pytest.mark.parametrize(
    ("attributes", "content_keys"),
    [
        ({"input.value": "q", "output.value": "a", "x": 1}, ["input.value", "output.value"]),
        ({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "q", "gen_ai.completion.0.content": "a", "x": 1},
         ["gen_ai.prompt.0.role", "gen_ai.prompt.0.content", "gen_ai.completion.0.content"]),
        ({"gen_ai.input.messages": '[{"role": "user", "parts": []}]', "gen_ai.output.messages": "[]", "x": 1},
         ["gen_ai.input.messages", "gen_ai.output.messages"]),
        ({"mlflow.spanInputs": '{"q": 1}', "mlflow.spanOutputs": '"a"', "x": 1},
         ["mlflow.spanInputs", "mlflow.spanOutputs"]),
    ],
)  # fmt: skip
def test_attributes_the_content_comes_from_are_never_shown_again(
    attributes: dict[str, Any], content_keys: list[str]
) -> None:
    store = single_span_store(attributes)
    for names in (None, content_keys, [*content_keys, "x"], ["x"]):
        detail = tools.get_span(store, span_id(1), attributes=names)
        assert detail.inputs is not None and detail.outputs is not None, names
        assert not set(detail.attributes or {}) & set(content_keys), names
        assert detail.notes is None, names


def test_search_offsets_in_a_json_content_attribute_land_when_it_is_named() -> None:
    raw = json.dumps({"question": "x " * 300, "note": "the REFUND window is 30 days"}, indent=1)
    store = single_span_store({"input.value": raw, "output.value": "ok"})
    (match,) = tools.search_trace_regex(store, "refund window").matches
    assert match.field == "attributes.input.value"
    detail = tools.get_span(store, span_id(1), attributes=["input.value"], offset=match.offset)
    assert isinstance(detail.inputs, str) and detail.inputs.startswith("REFUND window")
    parsed = tools.get_span(store, span_id(1)).inputs
    assert isinstance(parsed, dict), "unnamed, inputs are shown parsed as usual"


def test_reading_on_a_long_input_also_reads_on_the_output_or_says_it_ended() -> None:
    store = single_span_store({"input.value": "i" * 5000, "output.value": "short answer", "x": "y"})
    first = tools.get_span(store, span_id(1), max_content_chars=1000)
    assert isinstance(first.inputs, str) and "attributes=['inputs'], offset=1000)]" in first.inputs
    on = tools.get_span(store, span_id(1), attributes=["inputs"], max_content_chars=1000, offset=1000)
    assert isinstance(on.inputs, str) and on.inputs.startswith("i" * 1000) and "offset=2000)]" in on.inputs
    assert on.outputs == "[all 12 chars are before offset 1000]", "not an empty output"
    assert on.attributes is None


def test_the_named_value_is_cut_first_so_reading_on_it_gets_the_budget() -> None:
    long = "z" * 40_000
    store = single_span_store({"input.value": long, "output.value": long, "doc": long})
    detail = tools.get_span(store, span_id(1), attributes=["doc"], max_content_chars=15_000, offset=15_000)
    assert (detail.attributes or {})["doc"].startswith("z" * 15_000)
    assert isinstance(detail.inputs, str) and detail.inputs.startswith("[omitted: 40000 chars; fetch with")
    assert len(detail.to_json()) <= LIMIT


# --- ListSpans previews --------------------------------------------------------------------------


def test_list_spans_without_preview_chars_is_unchanged() -> None:
    store = conversation()
    for page in (
        tools.list_spans(store),
        tools.list_spans(store, preview_chars=0),
        tools.list_spans(store, preview_chars=-5),
    ):
        assert page.columns == SPAN_ROW_COLUMNS
        assert all(len(row) == len(SPAN_ROW_COLUMNS) for row in page.rows)
        assert '"preview"' not in page.to_json()


def test_list_spans_previews_show_the_start_of_each_output() -> None:
    page = tools.list_spans(conversation(), preview_chars=60)
    assert page.columns == (*SPAN_ROW_COLUMNS, "preview")
    previews = {row[0]: preview_of(row) for row in page.rows if len(row) == 11}
    assert len(previews) == len(page.rows) == 5
    assert previews[span_id(3)] == STEP_MESSAGE[:60].rstrip() + "…"
    assert previews[span_id(1)] == "in: How many stations?", "no output: the inputs, marked"
    assert all(len(p or "") <= 61 for p in previews.values())


def test_preview_chars_is_clamped_to_200() -> None:
    store = single_span_store({"output.value": "word " * 1000})
    preview = only_preview(store, 10_000)
    assert preview and bounds.MAX_ROW_PREVIEW_CHARS - 5 < len(preview) <= bounds.MAX_ROW_PREVIEW_CHARS + 1
    assert preview.endswith("…")


def test_a_secret_in_an_output_never_reaches_a_preview() -> None:
    outputs = {
        "output.value": f"key {OPENAI_KEY} and more",
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": f"Bearer {OPENAI_KEY}"}]),
    }
    for key, value in outputs.items():
        store = single_span_store({key: value})
        for chars in (1, 12, 30, 200):
            preview = only_preview(store, chars)
            assert isinstance(preview, str)
            for n in range(8, len(OPENAI_KEY)):
                assert OPENAI_KEY[:n] not in preview, (key, chars)
        assert REDACTED in str(only_preview(store, 200))
    keyed = single_span_store({"output.value": json.dumps({"password": "hunter2-xyz", "status": "done"})})
    assert only_preview(keyed, 100) == f"password: {REDACTED} status: done"


def test_previews_make_control_characters_and_whitespace_harmless() -> None:
    store = single_span_store({"output.value": "\x1b[31mred\x1b[0m\n\n\tline\u202etwo\x00"})
    preview = str(only_preview(store, 100))
    assert preview == "\\x1b[31mred\\x1b[0m line\\u202etwo\\x00"
    assert preview.isprintable()


def test_an_error_span_without_output_previews_its_error() -> None:
    store = single_span_store({"input.value": "args"}, status="STATUS_CODE_ERROR", status_message="timeout after 30 s")
    assert only_preview(store, 60) == "error: timeout after 30 s"
    assert only_preview(single_span_store({"x": 1}), 60) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([{"role": "assistant", "content": "Hello there"}], "Hello there"),
        ({"role": "assistant", "parts": [{"type": "text", "content": "Hi"}]}, "Hi"),
        ({"temperature": 21, "ok": True, "note": None}, "temperature: 21 ok: true"),
        ("  many   spaces\nand\tlines ", "many spaces and lines"),
        (
            {"documents": [{"id": "d1", "text": "Refunds within 30 days"}], "source": "kb"},
            "Refunds within 30 days source: kb",
        ),
        (
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}}],
                "usage": {"total_tokens": 9},
            },
            "Done.",
        ),
        ([], ""),
    ],
)
def test_glimpse_keeps_the_words_a_model_chooses_by(value: Any, expected: str) -> None:
    assert glimpse(value, 60) == expected


def test_glimpse_of_a_huge_value_reads_only_its_start() -> None:
    huge = {"items": [{"content": "x" * 1000}] * 200_000}
    assert glimpse(huge, 20) == "x" * 20 + "…"
    assert glimpse(" " * 5_000_000 + "late", 20) == ""


# --- the response bound and paging, with previews ---------------------------------------------


def _escape_heavy_outputs(count: int = 10_000) -> TraceStore:
    # every preview character costs 2 to 6 once JSON-escaped, and names are long too
    spans = [otlp_span("root", 1, duration_ms=20_000, attributes={"output.value": '"' * 5000})]
    spans += [
        otlp_span("n" * 150 + str(n), n, 1, start_ms=n, attributes={"output.value": ('\\"\u2028' * 2000), "k": n})
        for n in range(2, count + 2)
    ]
    return store_of(load_one(spans))


def test_pages_with_previews_stay_under_the_bound_and_rejoin() -> None:
    store = _escape_heavy_outputs()
    seen: list[str] = []
    token = None
    while True:
        page = tools.list_spans(store, page_token=token, max_results=500, preview_chars=200)
        assert len(page.to_json()) <= LIMIT
        assert page.rows and all(len(row) == 11 for row in page.rows)
        seen.extend(row[0] for row in page.rows)
        token = page.next_page_token
        if token is None:
            break
    assert seen == [span.span_id for span in next(iter(store.indexes.values())).trace.spans]
    assert len(tools.list_spans(store, max_results=500, preview_chars=200).rows) < 500, "pages shrink"


@pytest.mark.parametrize("page_size", [1, 7, 100])
@pytest.mark.parametrize("filters", [{}, {"name": "search"}, {"status": "ERROR"}])
def test_paging_with_previews_lists_the_same_spans(page_size: int, filters: dict[str, Any]) -> None:
    store = store_of(tree_trace(60))
    plain = all_pages(store, page_size, **filters)
    with_previews = all_pages(store, page_size, preview_chars=40, **filters)
    assert [row[:9] for row in with_previews] == [row[:9] for row in plain]


@pytest.mark.anyio
async def test_previews_through_mcp_match_the_output_schema() -> None:
    with anyio.fail_after(20):
        async with Client(build_server(conversation())) as client:
            (tool,) = [t for t in (await client.list_tools()).tools if t.name == "ListSpans"]
            result = await client.call_tool("ListSpans", {"preview_chars": 30})
    assert "preview_chars" in tool.input_schema["properties"]
    assert not result.is_error
    data = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert data == result.structured_content
    assert data["columns"][-1] == "preview" and data["rows"][2][10].startswith("WebSurfer: I clicked")
