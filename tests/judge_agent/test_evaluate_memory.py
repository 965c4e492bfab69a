"""`evaluate` holds no records when it writes a results file (issue 13): summaries gather as records
finish, a resumed run indexes the file instead of loading it, and the records are read back from the
file when asked, in item order, for the report and the library API."""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judge_agent.evaluate import evaluate
from judge_agent.records import EvalRecord, RecordKey, ResultsIndex, read_records
from judge_agent.report import render_report
from judge_agent.summary import summarize
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    BOOL,
    VERDICT,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    record,
    responder,
    run,
    write_records,
)
from tests.judge_agent.test_evaluate_streaming import Progress, copy, key


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    verdicts = iter(["acceptable", "optimal", "needs_improvement"] * 100)
    with ScriptedModelServer([responder(lambda _text, _body: next(verdicts))] * 200) as running:
        yield running


def alive_records() -> int:
    gc.collect()
    return sum(isinstance(o, EvalRecord) for o in gc.get_objects())


def test_a_run_with_a_results_file_holds_no_records_while_judging_nor_after(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    most: list[int] = []
    progress = Progress(lambda: most.append(alive_records()))
    before = alive_records()

    evaluation = evaluate(
        (copy(n) for n in range(30)), "performance", concurrency=2, output=tmp_path / "r.jsonl", progress=progress,
        cache=False, **options(server),
    )  # fmt: skip

    assert (evaluation.judged, evaluation.count, evaluation.failed) == (30, 30, 0)
    assert max(most) - before <= 4, most  # the workers' records in hand, never the 30 of the run
    assert alive_records() - before == 0  # the Evaluation holds none: it reads them back when asked
    records = evaluation.records
    assert [r.item.key for r in records] == [key(n) for n in range(30)]
    assert records == sorted(read_records(tmp_path / "r.jsonl"), key=lambda r: int(r.item.key[6:], 16))


def test_summaries_gathered_as_records_finish_equal_those_of_the_records_read_back(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    first = evaluate((copy(n) for n in range(12)), "performance", concurrency=4, output=out, **options(server))
    assert first.summaries == summarize(read_records(out))
    (summary,) = first.summaries
    assert summary.distribution == {"optimal": 4, "acceptable": 4, "needs_improvement": 4}


def test_a_resumed_run_summarises_and_lists_the_resumed_records_too(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    evaluate([copy(n) for n in range(0, 8, 2)], "performance", output=out, **options(server))

    rerun = evaluate([copy(n) for n in range(8)], "performance", output=out, cache=False, **options(server))

    assert (rerun.resumed, rerun.judged, rerun.count) == (4, 4, 8)
    assert [r.item.key for r in rerun.iter_records()] == [key(n) for n in range(8)]
    assert rerun.summaries == summarize(read_records(out))
    assert rerun.summaries[0].count == 8


def test_without_a_results_file_the_records_are_held_in_item_order(server: ScriptedModelServer) -> None:
    evaluation = evaluate((copy(n) for n in range(6)), "performance", concurrency=3, **options(server))
    assert [r.item.key for r in evaluation.records] == [key(n) for n in range(6)]
    assert evaluation.summaries == summarize(evaluation.records)


@pytest.mark.parametrize(
    "values",
    [
        [random.Random(1).randint(1, 5) for _ in range(40)],
        [n % 3 == 0 for n in range(40)],
        [("optimal", "poor", "acceptable", "surprising")[n % 4] for n in range(40)],
    ],
    ids=["numbers", "bools", "categories"],
)
def test_a_summary_does_not_depend_on_the_order_records_came_in(values: list[Any]) -> None:
    value_type = {bool: BOOL, str: VERDICT}.get(type(values[0]))
    records = run(values, **({"value_type": value_type} if value_type else {}))
    shuffled = records[:]
    random.Random(2).shuffle(shuffled)
    assert summarize(shuffled) == summarize(records)
    assert summarize(records)[0].score_ci is not None


def test_the_results_index_knows_each_key_s_last_outcome_and_reads_records_in_the_order_asked(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    write_records(path, record("a", None, error="rate_limited"), record("b", 3))
    with path.open("a") as handle:
        handle.write('{"item": {"key": "c"')  # torn by a kill
    write_records(path, record("a", 5))

    index = ResultsIndex(path)

    a, b = (RecordKey(k, "quality", "d", "m", 0) for k in "ab")
    assert (len(index), index.ok(a), index.ok(b), index.ok(RecordKey("c", "quality", "d", "m", 0))) == (
        2,
        True,
        True,
        None,
    )
    assert a in index
    assert [(r.item.key, r.feedback.value) for r in index.records([b, a, b])] == [("b", 3), ("a", 5), ("b", 3)]
    assert list(index) == read_records(path)


def test_the_report_reads_the_records_once_as_they_stream(tmp_path: Path) -> None:
    records = run([1, 2, 3, 4, 5] * 3)
    summaries = summarize(records)
    handed: list[EvalRecord] = []

    def stream() -> Iterator[EvalRecord]:
        for each in records:
            handed.append(each)
            yield each

    assert render_report(stream(), summaries, max_rows=4) == render_report(records, summaries, max_rows=4)
    assert len(handed) == len(records)


def test_the_cli_report_and_json_come_from_the_results_file(server: ScriptedModelServer, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judge_agent.cli import main
    from tests.judge_agent.batch import FIXTURES

    out, page = tmp_path / "r.jsonl", tmp_path / "report.html"
    command = ["evaluate", str(FIXTURES / "multi_trace.jsonl"), "--builtin", "performance", "--out", str(out)]
    command += ["--report", str(page), "--json", "--base-url", server.openai_base_url, "--model", "openai:/m"]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["count"], shown["judged"]) == (3, 3)
    html = page.read_text()
    assert "<span>3 records</span>" in html and "<span>3 items</span>" in html
    assert all(f"trace:{r.item.trace_id}" in html or r.item.key in html for r in read_records(out))
