"""Items from trace files, datasets, row dicts and DataFrames (`judge_agent.dataset`); filters are
tested with evaluate in test_evaluate.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from judge_agent.dataset import collect
from judge_agent.errors import ConfigError
from tests.judge_agent.batch import FIXTURES


def test_jsonl_datasets_and_row_dicts_are_items(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"inputs": {"q": "hi"}, "outputs": "hello"}\n{"inputs": "x", "outputs": "y"}\n')
    items = collect([data, {"inputs": "a", "outputs": "b", "key": "k1"}])
    assert [i.key for i in items] == ["rows.jsonl#1", "rows.jsonl#2", "rows#k1"]
    assert items[0].inputs == {"q": "hi"}
    assert collect(FIXTURES / "multi_trace.jsonl")[0].trace is not None  # OTLP JSON Lines is a trace file


def test_a_dataframe_is_read_by_rows_and_json_cells_are_parsed() -> None:
    class DataFrame:  # pandas is optional: the API only needs to_dict(orient="records")
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [{"q": '{"city": "Paris"}', "a": "Lyon", "id": 7}, {"q": "x", "a": float("nan"), "id": 8}]

    items = collect(DataFrame(), mapping={"inputs": "q", "outputs": "a", "key": "id"})
    assert [i.key for i in items] == ["dataframe#7", "dataframe#8"]
    assert items[0].inputs == {"city": "Paris"} and items[1].outputs is None


def test_rows_sharing_a_key_are_refused() -> None:
    with pytest.raises(ConfigError, match="keys must be unique"):
        collect([{"key": "a", "inputs": "1"}, {"key": "a", "inputs": "2"}])
