"""`python -m judge_agent.cli`: the `judge-agent` command (what the subprocess tests run)."""

from judge_agent.cli import main

main(prog_name="judge-agent")
