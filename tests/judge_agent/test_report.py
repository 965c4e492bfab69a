"""The HTML report: untrusted text stays text, the page loads nothing, and Chromium renders its gauges."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from judge_agent.errors import ConfigError
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.numeric import Interval
from judge_agent.records import EvalRecord, ItemInfo
from judge_agent.report import render_report, write_report
from judge_agent.summary import JudgeSummary, SummaryKind, summarize
from judge_agent.value_types import ValueType

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TO = "\u2013"  # en dash
FINISHED = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
BOOL = ValueType(kind="bool")
SCORE = ValueType(kind="int", min=1, max=5)
RATING = ValueType(kind="categorical", categories=("optimal", "acceptable", "needs_improvement"))


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
            model="openai:/gpt-4o-mini", mode="agent", unknown_cited_span_ids=fields.pop("unknown", [])
        ),
    )
    item = ItemInfo(key=key, source="traces.jsonl", name=fields.pop("name", "agent.run"), status="OK")
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
        cited=["b8d3af23681c2889", "ffffffffffffffff"],
        cited_span_names={"b8d3af23681c2889": "call_api"},
        unknown=["ffffffffffffffff"],
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
    """Every tag with its attributes, and the text as a reader sees it (entities decoded)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    def having(self, tag: str, css_class: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag and css_class in attrs.get("class", "").split()]


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
    assert len([tag for tag, _ in page.tags if tag == "tr"]) == 1 + len(SUMMARIES) + 1 + 5
    assert "Showing the first 5 rows; 4 more are left out of this page." in page.text
    assert "left out" not in render_report(RECORDS, SUMMARIES)


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


def chromium(tmp_path: Path, *args: str) -> str:
    """Headless Chromium on the report, with its background services off; its stdout."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    report = tmp_path / "report.html"
    write_report(report, RECORDS, SUMMARIES)
    flags = [
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
    run = subprocess.run(
        [browser, *flags, *args, report.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


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
