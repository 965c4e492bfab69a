"""The HTML report: untrusted text stays text, the page loads nothing, values are coloured by verdict, links
lead from a gauge to its items, their cited spans and tool calls, and Chromium lays it out whole."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from judge_agent import report
from judge_agent.errors import ConfigError
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata, FeedbackValue, ToolCallRecord
from judge_agent.numeric import Interval
from judge_agent.records import EvalRecord, ItemInfo
from judge_agent.report import render_report, tone, write_report
from judge_agent.summary import JudgeSummary, SummaryKind, summarize
from judge_agent.value_types import ValueType

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TO = "\u2013"  # en dash
FINISHED = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
BOOL = ValueType(kind="bool")
SCORE = ValueType(kind="int", min=1, max=5)
RATING = ValueType(kind="categorical", categories=("optimal", "acceptable", "needs_improvement"))
SLOW, MISSING = "b8d3af23681c2889", "ffffffffffffffff"  # a span of the trace, and an id the judge made up


def call(turn: int, name: str, **arguments: Any) -> ToolCallRecord:
    return ToolCallRecord(turn=turn, name=name, arguments=arguments, result_chars=1234, latency_ms=12.5)


def record(
    judge: str,
    key: str,
    value_type: ValueType,
    value: Any,
    *,
    error: tuple[str, str] | None = None,
    **fields: Any,
) -> EvalRecord:
    feedback = Feedback(
        name=judge,
        value=value,
        rationale=fields.pop("rationale", f"why {key} got {value}"),
        cited_span_ids=fields.pop("cited", []),
        error=FeedbackError(code=error[0], message=error[1]) if error else None,
        metadata=FeedbackMetadata(
            model="openai:/gpt-4o-mini",
            mode="agent",
            unknown_cited_span_ids=fields.pop("unknown", []),
            tool_calls=fields.pop("calls", []),
            turns=fields.pop("turns", 0),
        ),
    )
    source = fields.pop("source", f"runs/{key.removeprefix('trace:')}.jsonl")
    item = ItemInfo(key=key, source=source, name=fields.pop("name", "agent.run"), status="OK")
    return EvalRecord(
        item=item,
        judge=judge,
        judge_digest="d1",
        model="openai:/gpt-4o-mini",
        value_type=value_type,
        feedback=feedback,
        finished_at=FINISHED,
        **fields,
    )


def summary(judge: str, value_type: ValueType, kind: SummaryKind, count: int, **fields: Any) -> JudgeSummary:
    return JudgeSummary(
        judge=judge,
        models=["openai:/gpt-4o-mini"],
        value_type=value_type,
        kind=kind,
        count=count,
        scored=fields.pop("scored", count - fields.get("errors", 0)),
        errors=fields.pop("errors", 0),
        input_tokens=1000 * count,
        output_tokens=50 * count,
        wall_time_s=4.2 * count,
        **fields,
    )


RECORDS = [
    record("correctness", "trace:aaa", BOOL, True, name=IMG, rationale=SCRIPT),
    record("correctness", "trace:bbb", BOOL, False),
    record("correctness", "trace:ccc", BOOL, None, error=("max_turns_exceeded", "the judge used all 8 turns")),
    record("helpfulness", "trace:aaa", SCORE, 4, cached=True),
    record("helpfulness", "trace:bbb", SCORE, 5),
    record("helpfulness", "trace:ccc", SCORE, 3),
    record(
        "performance",
        "trace:aaa",
        RATING,
        "needs_improvement",
        cited=[SLOW, MISSING],
        cited_span_names={SLOW: "call_api"},
        unknown=[MISSING],
        calls=[
            call(1, "ListSpans", span_type="TOOL"),
            call(2, "GetSpan", span_id=SLOW.upper()),
            call(2, "SearchTraceRegex", pattern="api_key=sk-live-1234567890abcdefghij"),
        ],
        turns=3,
    ),
    record("performance", "trace:bbb", RATING, "optimal"),
    record("tone", "trace:aaa", BOOL, None, error=("provider_error", "HTTP 500 from the provider")),
]
SUMMARIES = [
    summary(
        "correctness",
        BOOL,
        "bool",
        3,
        errors=1,
        error_codes={"max_turns_exceeded": 1},
        pass_rate=0.5,
        pass_rate_ci=Interval(low=0.0, high=1.0),
    ),
    summary(
        "helpfulness",
        SCORE,
        "number",
        3,
        cached=1,
        mean=4.0,
        mean_ci=Interval(low=3.0, high=5.0),
        median=4.0,
        std=1.0,
        observed=[3.0, 5.0],
        cost=0.0123,
    ),
    summary(
        "performance",
        RATING,
        "category",
        2,
        distribution={"optimal": 1, "needs_improvement": 1},
        distribution_ci={"optimal": Interval(low=0.0, high=1.0)},
    ),
    summary("tone", BOOL, "bool", 1, errors=1, error_codes={"provider_error": 1}),
]


class Page(HTMLParser):
    """Every tag with its attributes and the text right after it, and the text as a reader sees it (entities
    decoded)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self.texts.append("")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)
        if len(self.texts) == len(self.tags) and self.texts and not self.texts[-1]:
            self.texts[-1] = data

    def having(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag and css_class in attrs.get("class", "").split()]

    def with_text(self, tag: str, css_class: str) -> list[tuple[dict[str, str], str]]:
        """The elements of a class, each with the text right after its start tag."""
        return [
            (attrs, self.texts[position])
            for position, (name, attrs) in enumerate(self.tags)
            if name == tag and css_class in attrs.get("class", "").split()
        ]


def test_untrusted_text_is_escaped() -> None:
    html = render_report(RECORDS, SUMMARIES)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    page = Page(html)
    assert SCRIPT in page.text and IMG in page.text
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object", "embed", "link", "base")]
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]


def test_the_page_loads_nothing() -> None:
    page = Page(render_report(RECORDS, SUMMARIES, title="run <1>"))
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'none'" in csp and "img-src data:" in csp
    references = [attrs[name] for _, attrs in page.tags for name in ("src", "href") if name in attrs]
    assert not [url for url in references if re.match(r"\s*(https?:)?//", url)]
    assert "run <1>" in page.text


def test_a_gauge_per_judge_with_its_score_and_interval() -> None:
    page = Page(render_report(RECORDS, SUMMARIES))
    assert len(page.having("figure", "gauge")) == 4
    assert len(page.having("path", "fill")) == 3  # the judge without verdicts shows an empty dial
    assert len(page.having("path", "ci")) == 3
    text = " ".join(page.text.split())
    assert "50% 0% 100% pass rate" in text  # bool: value, scale ends, label
    assert f"4 1 5 mean 3 judged · no errors · 1 cached 95% CI 3{TO}5" in text  # int 1-5
    assert f"50% 0% 100% share 'optimal' 2 judged · no errors 95% CI 0%{TO}100%" in text  # the first category
    assert "no verdicts 0% 100% pass rate 1 judged · 1 error" in text


def test_summarize_output_renders_like_hand_built_summaries() -> None:
    page = Page(render_report(RECORDS, summarize(RECORDS)))
    assert len(page.having("figure", "gauge")) == 4 and len(page.having("path", "fill")) == 3
    assert "share 'optimal'" in page.text and "no verdicts" in page.text


def test_distributions_count_verdicts_and_bin_numbers() -> None:
    def bars(records: list[EvalRecord], summaries: list[JudgeSummary]) -> list[tuple[str, str]]:
        page = Page(render_report(records, summaries))
        labels = [attrs["title"] for attrs in page.having("div", "label")]
        widths = [attrs["style"] for attrs in page.having("div", "bar")]
        return list(zip(labels, widths, strict=True))

    assert bars(RECORDS[:3], SUMMARIES[:1]) == [("true", "width: 100.00%"), ("false", "width: 100.00%")]
    assert [label for label, _ in bars(RECORDS[3:6], SUMMARIES[1:2])] == ["1", "2", "3", "4", "5"]
    assert [label for label, _ in bars(RECORDS[6:8], SUMMARIES[2:3])] == list(RATING.categories or ())
    wide = ValueType(kind="float", min=0, max=1)
    floats = [record("f", f"k{i}", wide, i / 20) for i in range(21)]
    histogram = bars(floats, [summary("f", wide, "number", 21, mean=0.5, observed=[0.0, 1.0])])
    assert [label for label, _ in histogram][:2] == [f"0{TO}0.1", f"0.1{TO}0.2"] and len(histogram) == 10


def test_items_show_errors_cited_spans_and_cached_marks() -> None:
    page = Page(render_report(RECORDS, SUMMARIES))
    assert len(page.having("tr", "failed")) == 2
    text = " ".join(page.text.split())
    assert "max_turns_exceeded the judge used all 8 turns" in text
    assert "call_api (b8d3af23681c2889)" in text
    assert page.having("li", "unknown") == [{"class": "mono unknown", "title": "not a span of this trace"}]
    assert "4 cached" in text


def test_an_items_source_is_its_file() -> None:
    page = Page(render_report(RECORDS, SUMMARIES))
    sources = [attrs for attrs in page.having("div", "mono") if attrs.get("title") == "source"]
    assert len(sources) == len(RECORDS)
    assert "runs/aaa.jsonl" in page.text and "runs/ccc.jsonl" in page.text


def test_values_are_coloured_by_verdict_levels_and_neutral_when_unordered() -> None:
    assert (tone(True, BOOL), tone(False, BOOL)) == ("pass", "fail")
    assert [tone(c, RATING) for c in RATING.categories or ()] == ["pass", "mid", "fail"]
    assert [tone(v, SCORE) for v in (1, 2, 3, 4, 5)] == ["fail", "fail", "mid", "pass", "pass"]
    unordered: list[tuple[FeedbackValue | None, ValueType]] = [
        (7, SCORE),  # outside the type's bounds
        (3, ValueType(kind="int")),  # no bounds: no way to tell good from bad
        ("fine", ValueType(kind="str")),
        ("other", RATING),
        (None, BOOL),
    ]
    assert [tone(value, value_type) for value, value_type in unordered] == ["neutral"] * 5
    page = Page(render_report(RECORDS, SUMMARIES))
    verdicts = [(attrs["class"], text) for attrs, text in page.with_text("span", "verdict")]
    assert verdicts == [
        ("verdict pass", "true"),
        ("verdict fail", "false"),
        ("verdict pass", "4"),
        ("verdict pass", "5"),
        ("verdict mid", "3"),
        ("verdict fail", "needs_improvement"),
        ("verdict pass", "optimal"),
    ]
    bars = [attrs["class"] for attrs in page.having("div", "bar")]
    assert bars[:2] == ["bar pass", "bar fail"]  # the bool judge's true and false
    assert bars[2:7] == ["bar fail", "bar fail", "bar mid", "bar pass", "bar pass"]  # 1..5
    assert bars[7:10] == ["bar pass", "bar mid", "bar fail"]  # optimal, acceptable, needs_improvement


def test_a_reader_goes_from_the_gauge_to_an_item_its_cited_spans_and_its_tool_calls() -> None:
    html = render_report(RECORDS, SUMMARIES)
    page = Page(html)
    ids = [attrs["id"] for _, attrs in page.tags if "id" in attrs]
    assert len(ids) == len(set(ids))
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert links and all(link.startswith("#") and link[1:] in ids for link in links)  # every link lands

    def inside(tag: str, anchor: str) -> str:
        return re.search(rf'<{tag}[^>]* id="{anchor}"[^>]*>(.*?)</{tag}>', html, re.DOTALL).group(1)  # type: ignore[union-attr]

    performance = inside("section", "judge-3-card")
    assert 'class="gauge-link" href="#judge-3"' in performance  # the gauge leads to the judge's items
    items = inside("section", "judge-3")
    assert '<tr id="item-7"' in items and "performance" in items
    row = inside("tr", "item-7")
    assert "why trace:aaa got needs_improvement" in row  # the rationale
    assert 'href="#item-7-span-1">call_api (b8d3af23681c2889)</a>' in row
    assert 'href="#item-7-span-2">ffffffffffffffff</a>' in row
    assert 'href="#item-7-calls">3 tool calls</a>' in row
    slow = " ".join(Page(inside("li", "item-7-span-1")).text.split())
    assert slow == "call_api (b8d3af23681c2889): read in call 2"
    assert 'href="#item-7-call-2"' in inside("li", "item-7-span-1")
    assert "not a span of this trace" in inside("li", "item-7-span-2")
    get_span = inside("li", "item-7-call-2")
    assert "GetSpan" in get_span and 'href="#item-7-span-1"' in get_span  # and back to the span it read
    assert "turn 2" in get_span and "1,234 chars, 12.5 ms" in get_span
    assert 'href="#item-7-span' not in inside("li", "item-7-call-1")


def test_tool_call_arguments_are_redacted_and_cut_and_long_transcripts_capped() -> None:
    text = Page(render_report(RECORDS, SUMMARIES)).text
    assert "sk-live-1234567890abcdefghij" not in text and "api_key=" in text
    calls = [call(1, "SearchTraceRegex", pattern="x" * 1000) for _ in range(70)]
    long = record("tone", "trace:ddd", BOOL, True, calls=calls, turns=1)
    page = Page(render_report([long], summarize([long])))
    assert len([attrs for tag, attrs in page.tags if tag == "li" and "call" in attrs.get("id", "")]) == 60
    assert "… 10 more (the results file has every call)" in page.text
    assert "x" * 301 not in page.text and "x" * 250 in page.text


def test_the_page_lists_a_bounded_number_of_tool_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "_MAX_PAGE_CALLS", 50)
    calls = [call(1, "GetSpan", span_id=SLOW) for _ in range(30)]
    records = [record("performance", f"trace:{n}", RATING, "optimal", calls=calls, cited=[SLOW]) for n in range(3)]
    page = Page(render_report(records, summarize(records)))
    listed = [attrs["id"] for tag, attrs in page.tags if tag == "li" and "-call-" in attrs.get("id", "")]
    assert len(listed) == 50 and listed[-1] == "item-2-call-20"
    text = " ".join(page.text.split())
    assert "… 10 more (the results file has every call)" in text
    assert "30, left out: this page lists 50 at most (the results file has every call)" in text
    assert "b8d3af23681c2889: named by none of the calls listed here" in text
    assert 'href="#item-3-calls">30 tool calls</a>' in render_report(records, summarize(records))


def test_an_inlined_trace_says_where_the_judge_saw_its_spans() -> None:
    inlined = record("performance", "trace:eee", RATING, "optimal", cited=[SLOW], cited_span_names={SLOW: "call_api"})
    inlined.feedback.metadata.inlined_trace = True
    text = " ".join(Page(render_report([inlined], summarize([inlined]))).text.split())
    assert "call_api (b8d3af23681c2889): seen in the trace outline the judge was given" in text
    assert "none: the trace outline was in the judge's first message" in text


def test_dataset_rows_show_what_was_judged_cut_short_and_escaped() -> None:
    row = record("tone", "qa.csv#7", ValueType(kind="int", min=1, max=5), 4)
    row.item.inputs = {"question": "<b>2+2</b>?"}
    row.item.outputs = "x" * 1000
    text = " ".join(Page(render_report([row], summarize([row]))).text.split())
    assert 'inputs {"question": "<b>2+2</b>?"}' in text  # as text: the parser saw no <b> tag
    assert "outputs " + "x" * 300 + "…" in text and "x" * 301 not in text
    assert "expectations" not in text.split("Items", 1)[1]


def test_big_runs_cap_the_item_table_with_a_note() -> None:
    page = Page(render_report(RECORDS, SUMMARIES, max_rows=5))
    assert [attrs["id"] for tag, attrs in page.tags if tag == "tr" and "id" in attrs] == [
        f"item-{n}" for n in range(1, 6)
    ]
    assert "Showing the first 5 rows; 4 more are left out of this page." in page.text
    assert "left out" not in render_report(RECORDS, SUMMARIES)
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert "#judge-2" in links and "#judge-3" not in links  # no link to items left out


def test_empty_runs_render() -> None:
    text = Page(render_report([], [])).text
    assert "No judge summaries." in text and "No records." in text


def test_write_report_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_report(target, RECORDS, SUMMARIES, title="café")
    assert target.read_text(encoding="utf-8") == render_report(RECORDS, SUMMARIES, title="café")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(ConfigError, match="cannot write report"):
        write_report(tmp_path / "missing" / "report.html", RECORDS, SUMMARIES)


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    return found


def flags(tmp_path: Path) -> list[str]:
    """Headless, with its background services off."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


def chromium(tmp_path: Path, *args: str) -> str:
    """Headless Chromium on the report; its stdout."""
    command = browser()
    report = tmp_path / "report.html"
    write_report(report, RECORDS, SUMMARIES)
    run = subprocess.run(
        [command, *flags(tmp_path), *args, report.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (descriptors 3 and 4): what the laid-out page
    measures. The page runs no script of its own (its CSP forbids it); the protocol's evaluation does."""

    def __init__(self, process: subprocess.Popen[bytes], commands: int, replies: int) -> None:
        self.process, self.commands, self.replies = process, commands, replies
        self.buffer, self.sent, self.session = b"", 0, ""
        self.deadline = time.monotonic() + 60

    def send(self, method: str, **params: Any) -> int:
        self.sent += 1
        message = {"id": self.sent, "method": method, "params": params} | (
            {"sessionId": self.session} if self.session else {}
        )
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        return self.sent

    def wait(self, want: int | str) -> dict[str, Any]:
        """The reply to command `want`, or the first event named `want`."""
        while True:
            while b"\0" in self.buffer:
                line, _, self.buffer = self.buffer.partition(b"\0")
                message = json.loads(line)
                if message.get("id") == want or message.get("method") == want:
                    assert "error" not in message, message
                    return dict(message)
            left = self.deadline - time.monotonic()
            assert left > 0, f"Chromium did not answer {want!r} within a minute"
            if select.select([self.replies], [], [], left)[0]:
                chunk = os.read(self.replies, 1 << 16)
                assert chunk, "Chromium closed the protocol pipe"
                self.buffer += chunk

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return dict(self.wait(self.send(method, **params)).get("result", {}))

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


@contextlib.contextmanager
def devtools(tmp_path: Path, html: str, width: int) -> Iterator[DevTools]:
    """The page loaded in a window `width` CSS pixels wide."""
    page = tmp_path / "page.html"
    page.write_text(html, encoding="utf-8")
    to_browser, from_browser = os.pipe(), os.pipe()

    def protocol_descriptors() -> None:  # dup first: a dup2 onto the same number would keep close-on-exec
        commands, replies = os.dup(to_browser[0]), os.dup(from_browser[1])
        os.dup2(commands, 3)
        os.dup2(replies, 4)

    process = subprocess.Popen(
        [browser(), *flags(tmp_path), "--remote-debugging-pipe", "about:blank"],
        preexec_fn=protocol_descriptors,
        pass_fds=(3, 4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    os.close(to_browser[0])
    os.close(from_browser[1])
    tools = DevTools(process, to_browser[1], from_browser[0])
    try:
        target = next(t for t in tools.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        tools.session = tools.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        tools.call("Page.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        tools.send("Page.navigate", url=page.as_uri())
        tools.wait("Page.loadEventFired")
        yield tools
    finally:
        process.kill()
        process.wait(30)
        os.close(to_browser[1])
        os.close(from_browser[0])


BROKEN_WORDS = """[...document.querySelectorAll('.verdict')].flatMap(verdict => {
  const text = verdict.firstChild;
  return [...text.textContent.matchAll(/\\S+/g)].filter(word => {
    const range = document.createRange();
    range.setStart(text, word.index);
    range.setEnd(text, word.index + word[0].length);
    return new Set([...range.getClientRects()].map(box => Math.round(box.top))).size > 1;
  }).map(word => word[0]);
})"""
COLOURS = "[...document.querySelectorAll('.verdict')].map(v => [v.className, getComputedStyle(v).backgroundColor])"
TASK = ValueType(kind="categorical", categories=("completed", "partially_completed", "failed"))


@pytest.mark.timeout(240)
def test_chromium_never_breaks_a_verdict_word_and_colours_each_level(tmp_path: Path) -> None:
    long_words = "a_verdict_label_far_wider_than_its_column another_long_word_that_must_not_split"
    records = [
        *RECORDS,
        *(
            record("task_completion", f"trace:t{n}", TASK, value, rationale="x " * 300)
            for n, value in enumerate(TASK.categories or ())
        ),
        record("notes", "trace:n1", ValueType(kind="str"), long_words),
    ]
    with devtools(tmp_path, render_report(records, summarize(records)), width=360) as page:
        assert page.evaluate("window.innerWidth") == 360
        assert page.evaluate(BROKEN_WORDS) == []
        colours = page.evaluate(COLOURS)
    tones: dict[str, set[str]] = {}
    for classes, colour in colours:
        tones.setdefault(classes.split()[1], set()).add(colour)
    assert set(tones) == {"pass", "mid", "fail", "neutral"}
    assert all(len(shades) == 1 for shades in tones.values())  # one colour per level
    assert len({next(iter(shades)) for shades in tones.values()}) == 4  # and four levels, four colours


@pytest.mark.timeout(240)
def test_chromium_renders_the_gauges_and_shows_markup_as_text(tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom")
    page = Page(dom)
    assert len(page.having("figure", "gauge")) == len(SUMMARIES)
    assert SCRIPT in page.text and IMG in page.text
    assert "<script" not in dom.lower()
    assert not [tag for tag, _ in page.tags if tag == "img"]


@pytest.mark.timeout(240)
def test_chromium_screenshot_is_not_blank(tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    width, height, rows = png_rows(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert len(set(rows)) > 100  # a blank page is a couple of distinct scanlines


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the (filtered) scanlines of an 8-bit PNG: enough to tell a page from a blank one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, header, compressed = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        header = body if kind == b"IHDR" else header
        compressed += body if kind == b"IDAT" else b""
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)  # RGB or RGBA
    stride = 1 + width * (3 if color == 2 else 4)
    pixels = zlib.decompress(compressed)
    assert len(pixels) == stride * height
    return width, height, [pixels[i : i + stride] for i in range(0, len(pixels), stride)]
