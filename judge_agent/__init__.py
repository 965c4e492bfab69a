"""judge_agent: an agent-as-a-judge that investigates OpenTelemetry traces through MCP tools.

The public API: define judges (`make_judge`, `load_judge`, `load_builtin`; `make_check` for checks
that ask no model), call them on one trace
(a `Feedback`), or run them over many items (`evaluate`, an `Evaluation`); `Filters` select items.

Names are imported on first use (PEP 562): `judge-agent --help` should not pay for the MCP
client, the model SDKs and the batch machinery it does not run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judge_agent.dataset import Filters
    from judge_agent.definition import builtin_names
    from judge_agent.evaluate import Evaluation, aevaluate, evaluate
    from judge_agent.feedback import Feedback
    from judge_agent.judge import Judge, load_builtin, load_judge, make_check, make_judge

_HOMES = {
    "Evaluation": "judge_agent.evaluate",
    "Feedback": "judge_agent.feedback",
    "Filters": "judge_agent.dataset",
    "Judge": "judge_agent.judge",
    "aevaluate": "judge_agent.evaluate",
    "builtin_names": "judge_agent.definition",
    "evaluate": "judge_agent.evaluate",
    "load_builtin": "judge_agent.judge",
    "load_judge": "judge_agent.judge",
    "make_check": "judge_agent.judge",
    "make_judge": "judge_agent.judge",
}
__all__ = [
    "Evaluation",
    "Feedback",
    "Filters",
    "Judge",
    "aevaluate",
    "builtin_names",
    "evaluate",
    "load_builtin",
    "load_judge",
    "make_check",
    "make_judge",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'judge_agent' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
