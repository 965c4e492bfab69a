"""PLACEHOLDER: MLflow trace JSON (being written)."""

from typing import Any

from trace_tools.loaders.common import Collected


def is_mlflow_trace(document: Any) -> bool:
    return False


def parse_trace(document: Any, source: str) -> Collected:
    raise NotImplementedError
