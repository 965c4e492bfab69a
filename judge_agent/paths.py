"""Where judge-agent keeps files of its own: one user cache directory for every cache.

The verdict cache (`verdicts.sqlite`) and the assembled offline models (`models/`) live under
it: `JUDGE_AGENT_CACHE` when set, else `$XDG_CACHE_HOME/judge-agent`, else `~/.cache/judge-agent`.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "JUDGE_AGENT_CACHE"


def cache_dir() -> Path:
    """The user cache directory (not created here: each cache makes what it needs)."""
    base = os.environ.get(CACHE_ENV_VAR) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "judge-agent"
    )
    return Path(base)
