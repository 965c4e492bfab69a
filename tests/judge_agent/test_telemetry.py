"""Verdicts into OpenTelemetry: `judge`/`evaluate --export-otlp` send through the SDK's OTLP/HTTP
exporters into this repository's receiver (uvicorn on loopback) and its SQLite trace store, and
the test reads back what a backend would show: the evaluation event on the judged span, and a
`-v` investigation as a GenAI trace of its own."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from judge_agent import telemetry
from judge_agent.cli import main
from judge_agent.errors import ConfigError
from judge_agent.feedback import Feedback, FeedbackMetadata
from judge_agent.telemetry import OtlpExport, base_endpoint, evaluation_attributes
from judge_agent.testing.model_server import Failure, Reply, ScriptedModelServer, error, tool_calls
from judge_agent.value_types import ValueType
from tests.judge_agent.batch import (
    ERROR_TRACE,
    FIXTURES,
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
)
from tests.trace_tools.test_receiver import serving
from trace_tools.model import Span, Trace
from trace_tools.receiver import Receiver
from trace_tools.store import TraceDatabase, TraceQuery, open_store

SEED = str(FIXTURES / "data_processor.jsonl")
SEED_ID = "c2b9546e0f0220f3edb7f1d5cbf15150"
SEED_ROOT = "32b27cadc29f12fb"
CITED = "b8d3af23681c2889"  # a call_api span of the seed trace
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class Collector:
    url: str
    database: TraceDatabase
    token: str | None = None

    def post(self, *files: str) -> None:
        """Send trace files (OTLP/JSON, one request a line) to the receiver, as an app would."""
        for path in files:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                headers = {"content-type": "application/json"}
                if self.token:
                    headers["authorization"] = f"Bearer {self.token}"
                answer = httpx.post(f"{self.url}/v1/traces", content=line, headers=headers)
                assert answer.status_code == 200, answer.text

    def evaluation_events(self, trace_id: str) -> dict[str, list[dict[str, Any]]]:
        """The judged trace's evaluation events (attributes), by the span they belong to."""
        found: dict[str, list[dict[str, Any]]] = {}
        for span in self.database.load(trace_id).spans:
            for event in span.events:
                if event.name == telemetry.EVALUATION_EVENT:
                    found.setdefault(span.span_id, []).append(event.attributes)
        return found

    def judge_traces(self) -> list[Trace]:
        page = self.database.traces(TraceQuery(service="judge-agent"))
        return [self.database.load(summary.trace_id) for summary in page.traces]


@contextmanager
def collecting(tmp_path: Path, token: str | None = None) -> Iterator[Collector]:
    """`trace-tools collect` in a thread: the receiver over a SQLite store."""
    with open_store(tmp_path / "traces.sqlite") as database, serving(Receiver(database, token=token)) as url:
        yield Collector(url, database, token)


@pytest.fixture(autouse=True)
def sdk_log_level() -> Iterator[None]:
    """--export-otlp silences the SDK's loggers for the process; other tests get them back."""
    sdk = logging.getLogger("opentelemetry")
    level = sdk.level
    yield
    sdk.setLevel(level)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    with collecting(tmp_path) as running:
        yield running


def investigation(value: str = "needs_improvement", cited: tuple[str, ...] = (CITED,)) -> list[Reply]:
    rationale = f"call_api ran three times; the key {SECRET} leaked."
    return [
        tool_calls(("GetTraceInfo", {}), usage=(1500, 20)),
        tool_calls(("GetSpan", {"span_id": CITED, "api_key": SECRET}), usage=(2100, 30, 1500)),  # 1,500 cached
        tool_calls(
            ("submit_verdict", {"value": value, "rationale": rationale, "cited_span_ids": list(cited)}),
            usage=(4000, 90),
        ),
    ]


def judge(server: ScriptedModelServer, *args: str) -> Result:
    command = ["judge", SEED, "--builtin", "performance", "--inline", "never", *args]
    return CliRunner().invoke(main, [*command, "--model", "openai:/test-model", "--base-url", server.openai_base_url])


def test_a_verdict_becomes_an_evaluation_event_on_the_judged_root_span(collector: Collector) -> None:
    collector.post(SEED)
    with ScriptedModelServer(investigation()) as server:
        result = judge(server, "--json", "--export-otlp", collector.url)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["value"] == "needs_improvement"
    events = collector.evaluation_events(SEED_ID)
    assert list(events) == [SEED_ROOT]
    (event,) = events[SEED_ROOT]
    assert event["gen_ai.evaluation.name"] == "performance"
    assert event["gen_ai.evaluation.score.label"] == "needs_improvement"
    assert "gen_ai.evaluation.score.value" not in event
    assert event["gen_ai.evaluation.explanation"].startswith("call_api ran three times")
    assert SECRET not in event["gen_ai.evaluation.explanation"]
    assert event["judge_agent.evaluation.cited_span_ids"] == [CITED]
    assert collector.judge_traces() == []  # no -v: no investigation spans
    assert result.stderr == ""


def test_export_parent_cited_puts_the_event_on_the_first_cited_span(collector: Collector) -> None:
    collector.post(SEED)
    with ScriptedModelServer(investigation(cited=("0000000000000bad", CITED))) as server:
        result = judge(server, "--export-otlp", collector.url, "--export-parent", "cited")
    assert result.exit_code == 0, result.stderr
    assert list(collector.evaluation_events(SEED_ID)) == [CITED]  # the unknown id is passed over


def test_verbose_records_the_investigation_as_genai_spans(collector: Collector) -> None:
    collector.post(SEED)
    with ScriptedModelServer(investigation()) as server:
        result = judge(server, "-v", "--export-otlp", collector.url)
    assert result.exit_code == 0, result.stderr
    (trace,) = collector.judge_traces()
    root = trace.root
    assert root.name == "invoke_agent performance"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "performance"
    assert root.attributes["gen_ai.usage.input_tokens"] == 1500 + 2100 + 4000
    assert [(link.trace_id, link.span_id) for link in root.links] == [(SEED_ID, SEED_ROOT)]
    children = sorted(root.children, key=lambda s: (s.start_ns, s.name))
    assert [s.name for s in children] == [
        "chat test-model",
        "execute_tool GetTraceInfo",
        "chat test-model",
        "execute_tool GetSpan",
        "chat test-model",
        "execute_tool submit_verdict",
    ]
    chats = [s for s in children if s.name.startswith("chat")]
    assert [(s.attributes["gen_ai.usage.input_tokens"], s.attributes["gen_ai.usage.output_tokens"]) for s in chats] == [
        (1500, 20),
        (2100, 30),
        (4000, 90),
    ]
    # the cached part of a prompt, as the GenAI conventions name it (included in input_tokens)
    cached = "gen_ai.usage.cache_read.input_tokens"
    assert [s.attributes.get(cached) for s in chats] == [None, 1500, None] and root.attributes[cached] == 1500
    assert {s.attributes["gen_ai.request.model"] for s in chats} == {"test-model"}
    assert {s.attributes["gen_ai.provider.name"] for s in chats} == {"openai"}
    get_span = _named(children, "execute_tool GetSpan")
    assert get_span.attributes["gen_ai.tool.name"] == "GetSpan"
    assert json.loads(get_span.attributes["gen_ai.tool.call.arguments"]) == {"span_id": CITED, "api_key": "[REDACTED]"}
    # the server refuses the unknown argument, naming it (never echoing its value)
    assert "api_key" in get_span.attributes["gen_ai.tool.call.result"]
    every_value = json.dumps([s.attributes for s in trace.spans])
    assert SECRET not in every_value
    assert len(_named(children, "execute_tool GetTraceInfo").attributes["gen_ai.tool.call.result"]) <= 1000 + 30


def test_evaluate_exports_each_verdict_and_counts_the_failed_judgments(collector: Collector, tmp_path: Path) -> None:
    collector.post(*TRACE_FILES)
    choose = responder(lambda text, _body: "acceptable")

    def answer(body: Any) -> Reply | Failure:  # the ERROR trace's judgment fails at the provider
        return error(400, "bad request") if "POST /v1/tickets" in json.dumps(body) else choose(body)

    with ScriptedModelServer([answer] * 20) as server:
        command = [
            "evaluate", *TRACE_FILES, "--builtin", "performance", "--model", "openai:/m",
            "--base-url", server.openai_base_url, "--out", str(tmp_path / "out.jsonl"), "--no-cache", "-q",
            "--export-otlp", collector.url,
        ]  # fmt: skip
        result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == 6
    for record in records:
        trace_id, root = record["item"]["trace_id"], record["item"]["root_span_id"]
        events = collector.evaluation_events(trace_id)
        if record["item"]["key"] == ERROR_TRACE:
            assert events == {}
        else:
            assert [e["gen_ai.evaluation.score.label"] for e in events[root]] == ["acceptable"]
    assert "1 failed judgment(s) had no verdict to export" in result.stderr


def test_without_a_url_the_sdk_environment_names_the_endpoint_and_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with collecting(tmp_path, token="s3cret") as collector:
        collector.post(SEED)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret")
        with ScriptedModelServer(investigation()) as server:
            result = judge(server, "--export-otlp")
        assert result.exit_code == 0, result.stderr
        assert list(collector.evaluation_events(SEED_ID)) == [SEED_ROOT]


def test_an_unreachable_endpoint_costs_a_warning_not_the_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "DEFAULT_TIMEOUT_S", 0.5)
    with ScriptedModelServer(investigation()) as server:
        result = judge(server, "-v", "--json", "--export-otlp", f"http://127.0.0.1:{_closed_port()}")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["value"] == "needs_improvement"
    assert "could not export 1 verdict event(s) to http://127.0.0.1:" in result.stderr
    assert "could not export 7 span(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_endpoint_that_never_answers_is_given_up_after_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as silent:  # listens, never accepts: the request hangs until the deadline
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        export = OtlpExport(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.3)
        for _ in range(3):
            assert export.verdict(_feedback(True), ValueType.of(bool), SEED_ROOT)
        with caplog.at_level(logging.WARNING, "judge_agent.telemetry"):
            export.close()
    assert "could not export 3 verdict event(s)" in caplog.text


def test_a_failed_judgment_exports_nothing() -> None:
    failed = Feedback.model_validate(
        {"name": "j", "error": {"code": "provider_error", "message": "x"}, "metadata": {"model": "m", "mode": "agent"}}
    )
    export = OtlpExport(f"http://127.0.0.1:{_closed_port()}", timeout_s=0.1)
    assert not export.verdict(failed, ValueType.of(bool), SEED_ROOT)
    assert export.skipped == 1
    export.close()


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (True, ValueType.of(bool), {"gen_ai.evaluation.score.label": "pass", "gen_ai.evaluation.score.value": 1.0}),
        (False, ValueType.of(bool), {"gen_ai.evaluation.score.label": "fail", "gen_ai.evaluation.score.value": 0.0}),
        (4, ValueType.of("int", 1, 5), {"gen_ai.evaluation.score.value": 4.0}),
        (0.25, ValueType.of(float), {"gen_ai.evaluation.score.value": 0.25}),
        ("good", ValueType.of(("good", "bad")), {"gen_ai.evaluation.score.label": "good"}),
        ("Paris, in 1789", ValueType.of(str), {"judge_agent.evaluation.value": "Paris, in 1789"}),
    ],
)
def test_scores_are_values_and_low_cardinality_labels(value: Any, kind: ValueType, expected: dict[str, Any]) -> None:
    attributes = evaluation_attributes(_feedback(value), kind)
    scores = {k: v for k, v in attributes.items() if "score" in k or k == "judge_agent.evaluation.value"}
    assert scores == expected
    assert attributes["gen_ai.evaluation.name"] == "j"


def test_the_explanation_is_redacted_and_bounded() -> None:
    attributes = evaluation_attributes(_feedback(True, f"{SECRET} " + "x" * 50_000), ValueType.of(bool))
    explanation = attributes["gen_ai.evaluation.explanation"]
    assert SECRET not in explanation
    assert len(explanation) <= telemetry.EXPLANATION_CHARS + 30


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://collector:4318", "http://collector:4318"),
        ("http://collector:4318/", "http://collector:4318"),
        ("https://otel.example.com/otlp/v1/logs", "https://otel.example.com/otlp"),
        ("http://collector:4318/v1/traces/", "http://collector:4318"),
    ],
)
def test_endpoints_are_bases_as_the_sdk_reads_them(given: str, base: str) -> None:
    assert base_endpoint(given) == base
    with OtlpExport(given) as export:
        assert export.url("logs") == f"{base}/v1/logs"


def test_no_url_means_the_environment_or_the_sdk_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert base_endpoint(None) == "http://localhost:4318"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/")
    assert base_endpoint("") == "http://otel:4318"


@pytest.mark.parametrize("bad", ["collector:4318", "ftp://h", "http://", "http://h:port", "http://h/?a=1"])
def test_a_bad_endpoint_is_one_line(bad: str) -> None:
    with pytest.raises(ConfigError, match="not an OTLP/HTTP endpoint"):
        base_endpoint(bad)
    result = CliRunner().invoke(main, ["judge", SEED, "--builtin", "performance", "--export-otlp", bad])
    assert result.exit_code == 2
    assert "not an OTLP/HTTP endpoint" in result.stderr
    assert "Traceback" not in result.stderr


def _named(spans: list[Span], name: str) -> Span:
    (span,) = [s for s in spans if s.name == name]
    return span


def _feedback(value: Any, rationale: str = "because") -> Feedback:
    return Feedback(name="j", value=value, rationale=rationale, metadata=FeedbackMetadata(model="m", mode="agent"))


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_failed_endpoint_is_rested_for_a_while_then_tried_again() -> None:
    """A dead endpoint costs a batch run about one deadline (the next batches fail at once), and a
    long-running `watch` exports again once the endpoint is back."""
    now = [0.0]
    delivery = telemetry._Delivery(clock=lambda: now[0])
    sends: list[bool] = []

    def send(ok: bool) -> bool:
        sends.append(ok)
        return ok

    assert not delivery.attempt(3, lambda: send(False))
    now[0] = telemetry.PAUSE_AFTER_FAILURE_S / 2
    assert not delivery.attempt(2, lambda: send(True)) and sends == [False], "rested: not even tried"
    now[0] = telemetry.PAUSE_AFTER_FAILURE_S + 1
    assert delivery.attempt(4, lambda: send(True)) and sends == [False, True]
    assert delivery.attempt(1, lambda: send(True)) and delivery.delivered == 5
