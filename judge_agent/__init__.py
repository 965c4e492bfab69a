"""judge_agent: an agent-as-a-judge that investigates OpenTelemetry traces through MCP tools.

The public API: define judges (`make_judge`, `load_judge`, `load_builtin`), call them on one trace
(a `Feedback`), or run them over many items (`evaluate`, an `Evaluation`); `Filters` select items.
"""

from judge_agent.dataset import Filters
from judge_agent.definition import builtin_names
from judge_agent.evaluate import Evaluation, aevaluate, evaluate
from judge_agent.feedback import Feedback
from judge_agent.judge import Judge, load_builtin, load_judge, make_judge

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
    "make_judge",
]
