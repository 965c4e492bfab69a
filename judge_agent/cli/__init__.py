"""The `judge-agent` command: judge a trace, run judges over many items, compare runs, check a judge.

One module per command group (`judge`, `evaluate`, `watch`, `compare`, `validate`, `align`), their rich rendering
in `render`, and what they share in `common`. Commands are imported only when one runs: the
table below gives each one's home and the line `judge-agent --help` lists for it.

Exit codes: 0 done (a verdict was given); 1 judging failed, a --fail-under gate failed, or the
input could not be loaded; 2 a usage error; 130 interrupted (finished results are kept).
"""

from __future__ import annotations

import click

from judge_agent.cli.common import LazyGroup

#: name -> ("module:command", the one-line help `judge-agent --help` lists).
COMMANDS = {
    "judge": ("judge_agent.cli.judge:judge", "Judge one trace (or inputs/outputs) and show the verdict."),
    "evaluate": ("judge_agent.cli.evaluate:evaluate", "Judge many traces or dataset rows with one or more judges."),
    "watch": ("judge_agent.cli.watch:watch", "Judge the trace store's complete traces as they arrive."),
    "compare": ("judge_agent.cli.compare:compare", "Compare two results files: score deltas and changed verdicts."),
    "validate": ("judge_agent.cli.validate:validate", "Check a judge against human labels, per model."),
    "align": ("judge_agent.cli.align:align", "Fit a judge's examples to human labels; measure on held-out labels."),
    "builtins": ("judge_agent.cli.judge:builtins", "List the built-in judges, or print one's definition file."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judge-agent", prog_name="judge-agent")
def main() -> None:
    """An agent-as-a-judge: a model investigates an OpenTelemetry trace of your AI application
    through the trace tools (over MCP) and says how good the run was, and why.

    \b
    judge-agent judge fixtures/data_processor.jsonl --builtin performance --model openai:/gpt-4o-mini
    judge-agent judge run.jsonl --instructions 'Did the agent answer {{ trace }} correctly?' \\
        --value-type bool --model anthropic:/claude-sonnet-4-5 -v
    judge-agent evaluate runs/ --builtin performance --builtin task_completion --report report.html
    judge-agent judge --store traces.sqlite --last --builtin task_completion
    judge-agent watch --store traces.sqlite --builtin task_completion --sample 0.1 --max-per-hour 100
    judge-agent compare before.jsonl after.jsonl
    judge-agent validate --builtin correctness --labels labels.jsonl --model openai:/gpt-4o-mini --repeats 3
    judge-agent align --builtin correctness --labels labels.jsonl --out aligned.yaml --model openai:/gpt-4o-mini
    judge-agent builtins

    The model comes from --model, the judge file, or JUDGE_AGENT_MODEL.
    """
    from trace_tools.terminal import fit_stdout  # here, not at the top: `--help` stays light

    fit_stdout()
