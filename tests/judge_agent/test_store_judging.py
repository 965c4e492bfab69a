"""`judge --store` and `evaluate --store`: traces chosen from the trace store and judged as files are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.dataset import Filters
from judge_agent.records import read_records
from judge_agent.stored import select_stored, stored_items, stored_trace
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import ERROR_TRACE, TRACE_FILES, isolated, responder, verdict  # noqa: F401
from tests.judge_agent.store_data import (
    ERROR_FILE,
    fill,
    three,
    traces_of,
)
from trace_tools.errors import TraceSelectionError
from trace_tools.store import TraceQuery, open_store


def invoke(server: ScriptedModelServer, *args: str) -> Result:
    extra = ["--model", "openai:/m", "--base-url", server.openai_base_url]
    return CliRunner().invoke(main, [*args, *extra])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    return str(tmp_path / "traces.sqlite")


def test_judge_last_judges_the_newest_complete_trace(model_server: ScriptedModelServer, sqlite_store: str) -> None:
    with open_store(sqlite_store) as database:
        ids = three(database)
        newest = database.newest_complete()
        assert newest is not None
        fill(database, traces_of(ERROR_FILE), age_s=0)  # still arriving: not the last complete one
    model_server.enqueue(verdict("acceptable"))
    result = invoke(model_server, "judge", "--store", sqlite_store, "--last", "--builtin", "performance", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trace_id"] == newest.trace_id
    assert newest.trace_id in ids


def test_judge_trace_id_takes_any_id_form_from_the_store(model_server: ScriptedModelServer, sqlite_store: str) -> None:
    with open_store(sqlite_store) as database:
        second = three(database)[1]
    model_server.enqueue(verdict("optimal"))
    result = invoke(
        model_server, "judge", "--store", sqlite_store, "--trace-id", "0x" + second.upper(), "--builtin", "performance"
    )
    assert result.exit_code == 0, result.output
    assert second in json.dumps(model_server.requests[0].json)


@pytest.mark.parametrize(
    ("prepare", "args", "message"),
    [
        ("empty", ["--last"], "no trace in"),
        ("open", ["--last"], "no complete trace in"),
        ("open", ["--last", "--quiet-period", "3600"], "3 still open"),
        ("full", ["--trace-id", "ab" * 16], "is not in"),
        ("full", ["--last", "--service", "nobody"], "no trace matching these filters"),
    ],
)
def test_judge_from_the_store_fails_in_one_line(
    model_server: ScriptedModelServer, sqlite_store: str, prepare: str, args: list[str], message: str
) -> None:
    with open_store(sqlite_store) as database:
        if prepare != "empty":
            three(database, age_s=0 if prepare == "open" else 60)
    result = invoke(model_server, "judge", "--store", sqlite_store, *args, "--builtin", "performance")
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not model_server.requests


def test_the_open_count_names_the_quiet_period(sqlite_store: str) -> None:
    with open_store(sqlite_store) as database:
        three(database, age_s=0)
        with pytest.raises(TraceSelectionError, match=r"3 still open .*no span arrived for 10 s"):
            stored_trace(database)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last"], "--last picks from a trace store"),
        (["--store", "x.sqlite"], "give --trace-id ID or --last"),
        (["--store", "x.sqlite", "--last", "--trace-id", "ab"], "give --trace-id ID or --last"),
        ([TRACE_FILES[0], "--store", "x.sqlite", "--last"], "TRACE or --store"),
        ([TRACE_FILES[0], "--service", "shop"], "give --store"),
    ],
)
def test_judge_store_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["judge", *args, "--builtin", "performance"])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_missing_store_is_one_line_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sqlite"
    result = CliRunner().invoke(main, ["judge", "--store", str(missing), "--last", "--builtin", "performance"])
    assert result.exit_code == 1
    assert "no trace store there" in result.stderr
    assert not missing.exists()


def test_stored_trace_loads_the_newest_complete_trace_on_both_backends(store_target: str) -> None:
    with open_store(store_target) as database:
        three(database)
        newest = database.newest_complete()
        assert newest is not None
    assert stored_trace(store_target).trace_id == newest.trace_id


# evaluate --store


def evaluate_store(server: ScriptedModelServer, store: str, out: Path, *args: str) -> Result:
    return invoke(server, "evaluate", "--store", store, "--builtin", "performance", "--out", str(out), "-q", *args)


def test_evaluate_store_judges_the_selected_traces_and_records_say_so(
    sqlite_store: str, tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    with open_store(sqlite_store) as database:
        fill(database, traces_of(*TRACE_FILES))
    model_server.enqueue(*[responder(lambda _text, _body: "acceptable")] * 10)
    out = tmp_path / "results.jsonl"
    result = evaluate_store(model_server, sqlite_store, out, "--since", "3650d", "--status", "error")
    assert result.exit_code == 0, result.output
    (record,) = read_records(out)
    assert record.item.key == ERROR_TRACE
    assert record.item.source == f"store:{sqlite_store}"
    assert record.feedback.value == "acceptable"
    again = evaluate_store(model_server, sqlite_store, out, "--since", "3650d", "--status", "error", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resumed"] == 1
    assert len(model_server.requests) == 1


def test_evaluate_store_samples_as_a_file_run_with_the_same_seed(sqlite_store: str) -> None:
    traces = traces_of(*TRACE_FILES)
    with open_store(sqlite_store) as database:
        fill(database, traces)
        for seed in range(4):
            filters = Filters(sample=0.5, seed=seed)
            from_files = [f"trace:{t.trace_id}" for t in traces]
            kept_files = {i.key for i in filters.apply([_light(k) for k in from_files])}
            kept_store = {f"trace:{s.trace_id}" for s in select_stored(database, TraceQuery(complete=True), filters)}
            assert kept_store == kept_files


def test_evaluate_store_filters_by_service_and_name_and_limit(sqlite_store: str) -> None:
    with open_store(sqlite_store) as database:
        fill(database, traces_of(*TRACE_FILES))
        every = select_stored(database, TraceQuery(complete=True))
        assert len(every) == 6
        assert [s.start_time for s in every] == sorted(s.start_time for s in every)  # oldest first
        service = every[0].service
        assert service is not None
        assert all(s.service == service for s in select_stored(database, TraceQuery(service=service)))
        named = select_stored(database, TraceQuery(), Filters(name="POST"))
        assert [f"trace:{s.trace_id}" for s in named] == [ERROR_TRACE]
        assert len(select_stored(database, TraceQuery(), Filters(limit=2))) == 2
        ok = select_stored(database, TraceQuery(), Filters(status="ok"))
        assert ERROR_TRACE.removeprefix("trace:") not in {s.trace_id for s in ok} and len(ok) == 5


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        ([], "give DATA", 2),
        (["--service", "x", TRACE_FILES[0]], "give --store", 2),
        (["--store", "s.sqlite", TRACE_FILES[0]], "not both", 2),
        (["--since", "yesterday", TRACE_FILES[0]], "an age (90m, 1h, 7d)", 2),
    ],
)
def test_evaluate_store_usage_errors(args: list[str], message: str, code: int) -> None:
    result = CliRunner().invoke(main, ["evaluate", *args, "--builtin", "performance"])
    assert result.exit_code == code
    assert message in result.stderr


def test_evaluate_store_with_nothing_matching_is_one_line(sqlite_store: str, model_server: ScriptedModelServer) -> None:
    with open_store(sqlite_store) as database:
        three(database, age_s=0)
    result = evaluate_store(model_server, sqlite_store, Path(sqlite_store).with_name("r.jsonl"))
    assert result.exit_code == 1
    assert "no complete trace in" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _light(key: str) -> Any:
    from judge_agent.dataset import Item

    return Item(key=key, source="")


def test_store_alone_reads_the_default_store(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    with open_store(tmp_path / "cache" / "traces.sqlite") as database:  # JUDGE_AGENT_CACHE, as `isolated` sets it
        three(database)
        newest = database.newest_complete()
    model_server.enqueue(verdict("acceptable"))
    result = invoke(model_server, "judge", "--store", "--last", "--builtin", "performance", "--json")
    assert result.exit_code == 0, result.output
    assert newest is not None and json.loads(result.stdout)["trace_id"] == newest.trace_id


def test_evaluate_store_loads_each_trace_when_it_is_reached(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(sqlite_store) as database:
        fill(database, traces_of(*TRACE_FILES))
        loaded: list[str] = []
        load = database.load

        def counted(trace_id: str) -> Any:
            loaded.append(trace_id)
            return load(trace_id)

        monkeypatch.setattr(database, "load", counted)
        items = stored_items(database, select_stored(database, TraceQuery(complete=True)))
        assert (loaded, len(items)) == ([], 6)  # selected by their summaries: nothing loaded yet
        first = next(iter(items))
        assert first.trace is not None and loaded == [first.trace.trace_id]
        keys = [item.key for item in items]
        assert keys == [item.key for item in items] and len(loaded) == 1 + 6 + 6  # read anew each time, as files
