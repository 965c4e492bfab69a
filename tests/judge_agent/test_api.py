"""The package's public names, as users import them."""

from __future__ import annotations

import subprocess
import sys


def test_the_package_exports_the_evaluate_function_not_its_module() -> None:
    # A fresh interpreter: the lazy import binds the submodule `judge_agent.evaluate` to the package while
    # it resolves the name, which used to hand back the module (the README's own example then failed).
    code = (
        "from judge_agent import Filters, evaluate, load_builtin\n"
        "import judge_agent\n"
        "assert callable(evaluate) and evaluate.__module__ == 'judge_agent.evaluate', evaluate\n"
        "assert judge_agent.evaluate is evaluate\n"
        "from judge_agent.evaluate import aevaluate\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
