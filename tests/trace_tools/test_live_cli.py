"""`trace-tools traces/info/spans/span/search --store`: the trace store from the shell."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.trace_tools.store.otlp import proto_span, request, trace_id
from trace_tools.cli import main
from trace_tools.store import open_store

MINUTE_AGO = time.time_ns() - 60 * 10**9


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def hex_id(n: int) -> str:
    return trace_id(n).hex()


@pytest.fixture
def store(tmp_path: Path) -> str:
    """Trace 1 (complete: checkout with a failing payment) and trace 2 (search, still arriving)."""
    path = tmp_path / "traces.sqlite"
    with open_store(path) as database:
        database.add(
            request(proto_span(1, 1, name="checkout"), proto_span(1, 2, 1, name="pay", error=True)),
            received_ns=MINUTE_AGO,
        )
        database.add(request(proto_span(2, 1, name="search", start_ms=1000)))
    return str(path)


def test_traces_lists_the_store_newest_first_with_filters(store: str) -> None:
    code, out, _ = run("traces", "--store", store, "--json")
    assert code == 0
    assert [t["trace_id"] for t in json.loads(out)["traces"]] == [hex_id(2), hex_id(1)]
    code, out, _ = run("traces", "--store", store, "--errors", "--complete", "--since", "2026-01-01", "--json")
    assert [t["trace_id"] for t in json.loads(out)["traces"]] == [hex_id(1)]
    code, out, _ = run("traces", "--store", store)
    assert code == 0 and hex_id(1) in out and hex_id(2) in out


def test_traces_tells_how_to_see_the_next_page(store: str) -> None:
    code, _, err = run("traces", "--store", store, "--limit", "1")
    assert code == 0 and "1 of 2 traces; 1 more: the next page with --page-token" in err and "--all" in err
    token = err.split("--page-token ", 1)[1].split(",", 1)[0]
    code, out, _ = run("traces", "--store", store, "--limit", "1", "--page-token", token, "--json")
    assert [t["trace_id"] for t in json.loads(out)["traces"]] == [hex_id(1)]


def test_the_one_trace_commands_read_a_stored_trace(store: str) -> None:
    code, out, _ = run("info", "--store", store, "--last", "--json")
    assert code == 0 and json.loads(out)["trace_id"] == hex_id(1)  # the newest complete one
    code, out, _ = run("spans", "--store", store, "--trace-id", hex_id(2), "--json")
    assert [row[2] for row in json.loads(out)["rows"]] == ["search"]
    code, out, _ = run("search", "pay", "--store", store, "--trace-id", hex_id(1), "--json")
    span_id = json.loads(out)["matches"][0]["span_id"]
    code, out, _ = run("span", span_id, "--store", store, "--last", "--json")
    assert code == 0 and json.loads(out)["name"] == "pay"


def test_store_alone_reads_the_default_store(store: str) -> None:
    code, out, _ = run("traces", "--json", "--store", env={"JUDGE_AGENT_CACHE": str(Path(store).parent)})
    assert code == 0 and json.loads(out)["total_traces"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "--store", "{store}", "--trace-id", "f" * 32], "is not in"),
        (["traces", "--store", "{store}", "--service", "nowhere"], "matches the filters"),
        (["traces", "--store", "{store}", "--since", "soon"], "is neither an age"),
        (["traces", "--store", "{empty}"], "no traces in"),
        (["info", "--store", "{empty}", "--last"], "no complete trace"),
        (["info", "--store", "{missing}", "--last"], "no trace store there"),
    ],
)
def test_unknown_ids_and_empty_or_missing_stores_are_one_line_errors(
    store: str, tmp_path: Path, args: list[str], message: str
) -> None:
    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()
    missing = tmp_path / "missing.sqlite"
    paths = {"store": store, "empty": str(empty), "missing": str(missing)}
    code, out, err = run(*(arg.format(**paths) for arg in args))
    assert (code, out) == (1, "")
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not missing.exists()  # a reading command creates no store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "--store", "{store}"], "give --trace-id ID or --last"),
        (["info", "--store", "{store}", "--last", "--trace-id", "1" * 32], "give --trace-id ID or --last"),
        (["info", "x.jsonl", "--store", "{store}", "--last"], "not both"),
        (["span", "--store", "{store}", "--last"], "missing argument SPAN_ID"),
        (["info", "x.jsonl", "--last"], "--last reads the trace store"),
        (["info"], "give a trace file"),
        (["traces"], "or --store"),
        (["serve"], "or --store"),
        (["serve", "x.jsonl", "--store", "{store}"], "not both"),
    ],
)
def test_store_usage_mistakes_are_usage_errors(store: str, args: list[str], message: str) -> None:
    code, _, err = run(*(arg.format(store=store) for arg in args))
    assert code == 2 and message in err
