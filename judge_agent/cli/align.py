"""`judge-agent align`: few-shot examples (and optionally instructions) fitted to human labels, measured on
labels held out from the fitting.

Exit codes: 0 done (the aligned judge written); 1 the labels or judge could not be used, or every held-out
judgment failed; 2 a usage error; 130 interrupted (judgments made are in the verdict cache: a re-run is cheap).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text

from judge_agent.cli.common import (
    base_url_option,
    concurrency_option,
    configure_logging,
    interruptible,
    judge_options,
    judges_from,
    line,
    model_option,
    model_options,
    price_option,
    progress_bar,
    quiet_option,
    say,
    timeout_option,
)
from judge_agent.errors import JudgeAgentError
from trace_tools.terminal import stdout
from trace_tools.text import safe

if TYPE_CHECKING:
    from judge_agent.align import Alignment
    from judge_agent.providers.prices import Prices


@click.command()
@judge_options
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Human labels (JSON Lines, the `validate` format).",
)
@click.option(
    "--out",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Write the aligned judge file here (.yaml/.yml or .json).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@model_option("The judge model, e.g. openai:/gpt-4o-mini (default: the judge's own).")
@base_url_option
@timeout_option
@price_option
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.3,
    show_default=True,
    help="Share of the labels held out to measure the result (never used to choose).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training/held-out split.")
@click.option(
    "--max-examples",
    type=click.IntRange(1, 50),
    default=4,
    show_default=True,
    help="Training labels added as examples at most.",
)
@click.option(
    "--max-calls",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Judge calls at most, held-out judgments and cache hits included; the selection stops when "
    "another candidate would not fit.",
)
@click.option(
    "--drop-examples",
    is_flag=True,
    help="Start from no examples (default: keep the judge's own and add to them).",
)
@click.option(
    "--rewrite-model",
    metavar="PROVIDER:/MODEL",
    help="A (stronger) model that rewrites the instructions from the training disagreements; the rewrite is "
    "kept only if it agrees better with the training labels. --base-url and --timeout apply to it too.",
)
@concurrency_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the verdict cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@quiet_option
def align(
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    labels: Path,
    output: Path,
    force: bool,
    model: str | None,
    base_url: str | None,
    timeout: float | None,
    prices: dict[str, Prices],
    holdout: float,
    seed: int,
    max_examples: int,
    max_calls: int,
    drop_examples: bool,
    rewrite_model: str | None,
    concurrency: int,
    no_cache: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Align a judge with human labels and write the aligned judge to a new file.

    The labels are split (seeded) into training and held-out labels. Training labels are added as few-shot
    examples greedily, each round the one that most improves agreement on the other training labels, until
    none improves, --max-examples, or --max-calls; with --rewrite-model a stronger model then rewrites the
    instructions from the disagreements (the diff is shown). The result is the agreement on the held-out
    labels, before and after: accuracy and Cohen's kappa (bool/categories), Spearman and mean absolute error
    (numbers). Only labels given inline (inputs/outputs) can become examples; held-out labels are never
    used to choose. Judgments go through the verdict cache, so a re-run is cheap.

    \b
    judge-agent align --judge examples/cultural_sensitivity.yaml --labels examples/translation_labels.jsonl \\
        --out aligned.yaml --model openai:/gpt-4o-mini --max-calls 100
    """
    from judge_agent.align import aalign, writable, write_judge
    from judge_agent.providers import parse_model_uri

    configure_logging(verbose=False)
    if rewrite_model is not None:
        try:
            parse_model_uri(rewrite_model)
        except JudgeAgentError as exc:
            raise click.BadParameter(str(exc), param_hint="--rewrite-model") from None
    writable(output, force=force)  # before the long run, not after it
    options = model_options(base_url, timeout, prices)
    judges = judges_from(judge_files, builtins, {"model_options": options})
    if len(judges) != 1:
        raise click.UsageError("align one judge at a time (one --judge or --builtin)")
    alignment = interruptible(
        lambda: aalign(
            judges[0],
            labels,
            model=model,
            holdout=holdout,
            seed=seed,
            max_examples=max_examples,
            max_calls=max_calls,
            keep_examples=not drop_examples,
            rewrite_model=rewrite_model,
            model_options=options,
            concurrency=concurrency,
            cache=not no_cache,
            progress=progress_bar(quiet),
        ),
        None,
    )
    write_judge(alignment, output, force=force)
    if as_json:
        click.echo(json.dumps({**alignment.model_dump(mode="json"), "out": str(output)}, indent=2))
    else:
        stdout.print(render_alignment(alignment, output))
    if alignment.after.errors == alignment.after.items:
        say(f"no held-out verdict from {alignment.model}: every judgment failed")
        sys.exit(1)


def render_alignment(alignment: Alignment, output: Path) -> Group:
    """The split, the rounds, the rewrite's diff, then the held-out agreement before and after."""
    from judge_agent.cli.render import render_agreement
    from judge_agent.formatting import cost

    a = alignment
    parts: list[Any] = [
        line(
            f"{len(a.training) + len(a.held_out)} labels: {len(a.training)} training, {len(a.held_out)} held out "
            f"(seed {a.seed}); started from {a.kept_examples} of the judge's examples"
        )
    ]
    for number, step in enumerate(a.steps, 1):
        parts.append(
            line(
                f"round {number}: added {step.added} ({step.candidates} candidates, each judged on "
                f"{step.training_items} training labels: training {_score(step.before, a)} → {_score(step.after, a)})"
            )
        )
    parts.append(line(f"selection stopped: {a.stopped}"))
    if a.rewrite is not None:
        parts.append(
            line(
                f"rewrite by {a.rewrite.model} from {a.rewrite.disagreements} disagreements: "
                f"{'kept' if a.rewrite.kept else 'not kept'}, {a.rewrite.reason}"
            )
        )
        if a.rewrite.diff:
            parts.append(Syntax(safe(a.rewrite.diff, keep_newlines=True), "diff", theme="ansi_dark", word_wrap=True))
    parts += [line(note, "yellow") for note in a.notes]
    before = a.before.model_copy(update={"model": "before (as given)"})
    after = a.after.model_copy(update={"model": "after (aligned)"})
    parts += [
        Text(""),
        line(f"held-out labels ({len(a.held_out)}), judged by {a.model}:"),
        render_agreement([before, after]),
        Text(""),
        line(
            f"{a.calls} judge calls of at most {a.max_calls} ({a.cached} from the verdict cache), "
            f"{a.input_tokens + a.output_tokens:,} tokens{'' if a.cost is None else ', ' + cost(a.cost)}; "
            f"wrote {output}"
        ),
    ]
    return Group(*parts)


def _score(value: float, alignment: Alignment) -> str:
    """A training figure as the selection compared it: accuracy, or the mean absolute error for numbers."""
    from judge_agent.formatting import figure

    if alignment.before.kind == "number":
        return f"MAE {figure(-value)}"
    return f"accuracy {figure(value, True)}"
