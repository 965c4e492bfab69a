"""How the commands' results look on a terminal: the verdict panel, the run summary, the comparison
of two runs, the agreement with human labels.

Everything from traces and models is untrusted: it goes into `Text` (never markup) through `safe`.
Figures are formatted by `judge_agent.formatting`, as the HTML report's are. Library types are
imported for annotations only, so `judge-agent judge` does not load the batch code through here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from judge_agent.cli.common import line
from judge_agent.formatting import MISSING, cost, count, duration, figure, interval
from trace_tools.sessions import Session
from trace_tools.text import safe

if TYPE_CHECKING:
    from judge_agent.compare import Comparison, JudgeDelta
    from judge_agent.evaluate import Evaluation
    from judge_agent.feedback import Feedback, JuryVote
    from judge_agent.summary import JudgeSummary
    from judge_agent.validate import Agreement
    from trace_tools import Trace

_VALUE_COLOURS = {
    True: "green",
    False: "red",
    "optimal": "green",
    "good": "green",
    "acceptable": "yellow",
    "suboptimal": "yellow",
    "needs_improvement": "red",
    "poor": "red",
}


def render_feedback(feedback: Feedback, trace: Trace | Session | None) -> Panel:
    """The verdict as a rich panel: value, rationale, cited spans with names (from the trace, or any of the
    session's), cost of judging."""
    traces = trace.traces if isinstance(trace, Session) else (trace,) if trace is not None else ()
    meta = feedback.metadata
    if feedback.error:
        body: list[Any] = [Text(f"Judging failed ({feedback.error.code}): {safe(feedback.error.message)}", style="red")]
    else:
        value = feedback.value
        colour = _VALUE_COLOURS.get(value, "bold") if isinstance(value, (bool, str)) else "bold"
        body = [
            Text.assemble(("Value: ", "bold"), (safe(json.dumps(value)).strip('"'), colour)),
            Text(""),
            Text(safe(feedback.rationale)),
        ]
    if meta.jury is not None:
        body += [Text(""), _jurors(meta.jury)]
    if feedback.cited_span_ids:
        cited = Table("cited span", "name", box=None, pad_edge=False)
        for span_id in feedback.cited_span_ids:
            span = next((t.by_id[span_id] for t in traces if span_id in t.by_id), None)
            name = span.name if span else ("(not in the trace)" if traces else "")
            cited.add_row(span_id, line(name))
        body += [Text(""), cited]
    price = f", cost {cost(meta.cost)}" if meta.cost is not None else ""
    cached = f" ({meta.cached_input_tokens} cached)" if meta.cached_input_tokens else ""
    footer = (
        f"{meta.model} · {meta.turns} turns · {len(meta.tool_calls)} tool calls · {meta.input_tokens} in{cached} / "
        f"{meta.output_tokens} out tokens{price} · {duration(meta.wall_time_s)}"
        if meta.mode != "check"
        else f"deterministic check, no model · {duration(meta.wall_time_s)}"
    )
    body += [Text(""), Text(footer, style="dim")]
    body += [Text(f"note: {safe(n)}", style="dim") for n in meta.notes]
    if meta.unknown_cited_span_ids:
        body.append(
            Text(f"warning: cited ids not in the trace: {', '.join(meta.unknown_cited_span_ids)}", style="yellow")
        )
    return Panel(Group(*body), title=line(feedback.name), expand=False)


def _jurors(vote: JuryVote) -> Table:
    """A jury's verdict, juror by juror: what each said and why (or how it failed), and what it spent."""
    agreed = f", {figure(vote.agreement, True)} agreeing" if vote.agreement is not None else ""
    table = Table(title=f"jurors ({'majority vote' if vote.rule == 'vote' else 'mean'}{agreed})", title_justify="left")
    for column in ("juror", "value", "tokens", "rationale"):
        table.add_column(column, justify="right" if column == "tokens" else "left", overflow="fold")
    for juror in vote.jurors:
        if juror.error is not None:
            value, why = Text(f"failed ({juror.error.code})", style="red"), Text(safe(juror.error.message))
        else:
            shown = safe(json.dumps(juror.value)).strip('"')
            colour = _VALUE_COLOURS.get(juror.value, "") if isinstance(juror.value, (bool, str)) else ""
            value, why = Text(shown, style=colour), Text(safe(juror.rationale))
        table.add_row(line(juror.model), value, f"{juror.input_tokens + juror.output_tokens:,}", why)
    return table


def score_text(summary: JudgeSummary) -> str:
    """What a judge's headline score is and its value: "share 'optimal' 50.0%", "mean 3.4"."""
    if summary.score is None:
        return "no verdicts"
    return f"{summary.score_label} {figure(summary.score, summary.kind != 'number')}"


def render_summary(evaluation: Evaluation) -> Group:
    """Per judge: items, errors, the score with its 95% CI, the repeats' agreement (with --repeats), tokens, cost
    (when priced) and time; then a line per judge saying what its score is, with its distribution (or mean,
    median and std), how its repeats agreed, and error codes."""
    priced = any(s.cost is not None for s in evaluation.summaries)
    repeated = any(s.repeats > 1 for s in evaluation.summaries)
    cached = any(s.cached_input_tokens for s in evaluation.summaries)
    optional = [*(["cached"] if cached else []), *(["cost"] if priced else [])]
    table = Table(box=box.SIMPLE_HEAD)
    extra = [*(["agreement"] if repeated else []), "tokens", *optional]
    for column in ("judge", "items", "errors", "score", "95% CI", *extra, "time"):
        table.add_column(
            column, justify="left" if column == "judge" else "right", no_wrap=column != "judge", overflow="fold"
        )
    details: list[Text] = []
    for summary in evaluation.summaries:
        share = summary.kind != "number"
        ci = summary.score_ci
        table.add_row(
            line(summary.judge),
            str(summary.count),
            Text(str(summary.errors), style="red" if summary.errors else ""),
            figure(summary.score, share),
            f"{figure(ci.low, share)}-{figure(ci.high, share)}" if ci else "",
            *([figure(summary.agreement, True)] if repeated else []),
            f"{summary.input_tokens + summary.output_tokens:,}",
            *([f"{summary.cached_input_tokens:,}"] if cached else []),
            *([cost(summary.cost)] if priced else []),
            duration(summary.wall_time_s),
        )
        details.append(line(f"{summary.judge}: score = {summary.score_label}; {_details(summary)}"))
        if summary.repeats > 1:
            details.append(line(f"{summary.judge}: {_repeats(summary)}"))
        if summary.error_codes:
            codes = ", ".join(f"{code} {n}" for code, n in summary.error_codes.items())
            details.append(line(f"{summary.judge} errors: {codes}", "red"))
    return Group(Text(_run_line(evaluation)), table, *details)


def _details(summary: JudgeSummary) -> str:
    if summary.kind == "number":
        if not summary.observed:
            return "no verdicts"
        low, high = summary.observed
        return f"median {figure(summary.median)}, std {figure(summary.std)}, range {figure(low)}-{figure(high)}"
    shares = " · ".join(f"{value} {n}" for value, n in summary.distribution.items()) or "no verdicts"
    if summary.position_bias is not None:  # a pairwise judge: the ties its two orders' disagreement made
        judged = summary.judgments - summary.failed_judgments  # with --repeats, each repeat's two orders
        shares += f"; position bias (the orders disagreed: a tie) in {summary.position_bias} of {judged}"
    return shares


def _repeats(summary: JudgeSummary) -> str:
    """How an item's repeats were read: 'each item judged 3 times, the majority taken (the mean for numbers);
    they agree 88.9% on average, 1 item split, 1 judgment failed'."""
    rule = "the mean taken" if summary.kind == "number" else "the majority taken"
    text = f"each item judged {summary.repeats} times, {rule}"
    if summary.agreement is not None:
        text += f"; they agree {figure(summary.agreement, True)} on average"
    text += f", {count(summary.disagreements, 'item')} split"
    if summary.failed_judgments:
        text += f", {count(summary.failed_judgments, 'judgment')} failed (no vote)"
    return text


def _run_line(evaluation: Evaluation) -> str:
    parts = [count(evaluation.count, "result")]
    for n, what in (
        (evaluation.judged - evaluation.cached, "judged"),
        (evaluation.cached, "from cache"),
        (evaluation.resumed, "resumed"),
        (evaluation.failed, "failed"),
        (evaluation.throttled, "rate limits"),
    ):
        if n:
            parts.append(f"{n} {what}")
    where = f" → {evaluation.output}" if evaluation.output else ""
    return f"{', '.join(parts)} in {duration(evaluation.wall_time_s)}{where}"


def render_comparison(comparison: Comparison, show: int) -> Group:
    """The score deltas per judge, the items whose verdict changed (one line each), and how each value's
    count moved."""
    table = Table()
    for column in ("judge", "metric", "old", "new", "delta", "95% CI of delta", "items old/new"):
        table.add_column(column)
    for delta in comparison.deltas:
        share = delta.metric != "mean"
        significant = _significant(delta)
        style = "" if not significant or delta.delta is None else ("green" if delta.delta > 0 else "red")
        sign = "+" if delta.delta and delta.delta > 0 else ""
        table.add_row(
            line(delta.judge),
            line(delta.metric),
            figure(delta.old, share),
            figure(delta.new, share),
            Text(f"{sign}{figure(delta.delta, share)}", style=style),
            (interval(delta.delta_ci, share) if delta.delta_ci else "") + (" *" if significant else ""),
            f"{delta.old_count}/{delta.new_count}",
        )
    parts: list[Any] = [Text("score by judge (new - old)"), table]
    if comparison.changed:
        parts.append(Text(f"{count(len(comparison.changed), 'item')} changed verdict (old → new: new rationale)"))
    for item in comparison.changed[:show]:
        text = f"  {item.key} {item.judge}: {item.old_value} → {item.new_value}: {item.new_rationale}"
        parts.append(Text(safe(text, keep_newlines=False), no_wrap=True, overflow="ellipsis"))
    if len(comparison.changed) > show:
        parts.append(Text(f"… {len(comparison.changed) - show} more (--show N, or --json)", style="dim"))
    unmatched = []
    if comparison.only_old:
        unmatched.append(f"{comparison.only_old} results only in OLD")
    if comparison.only_new:
        unmatched.append(f"{comparison.only_new} results only in NEW")
    if unmatched:
        parts.append(Text("; ".join(unmatched), style="dim"))
    if any(_significant(d) for d in comparison.deltas):
        parts.append(Text("* the 95% CI of the delta excludes 0", style="dim"))
    parts += [line(movement) for movement in _movements(comparison.deltas)]
    priced = [d for d in comparison.deltas if d.old_cost is not None or d.new_cost is not None]
    if priced:
        costs = Table()
        for column in ("judge", "old", "new", "difference"):
            costs.add_column(column, justify="left" if column == "judge" else "right")
        for delta in priced:
            change = delta.cost_delta
            shown = MISSING if change is None else f"{'-' if change < 0 else '+'}{cost(abs(change))}"
            costs.add_row(line(delta.judge), cost(delta.old_cost), cost(delta.new_cost), shown)
        parts += [Text("cost of judging by judge (new - old)"), costs]
    return Group(*parts)


def _movements(deltas: Sequence[JudgeDelta]) -> list[str]:
    """How each value's count moved (old→new): a headline share can stay put while verdicts shift."""
    lines = []
    for delta in deltas:
        if delta.old_distribution and delta.new_distribution:
            keys = dict.fromkeys([*delta.old_distribution, *delta.new_distribution])
            moves = (f"{k} {delta.old_distribution.get(k, 0)}→{delta.new_distribution.get(k, 0)}" for k in keys)
            lines.append(f"{delta.judge}: {' · '.join(moves)}")
    return lines


def _significant(delta: JudgeDelta) -> bool:
    return delta.delta_ci is not None and (delta.delta_ci.low > 0 or delta.delta_ci.high < 0)


def render_agreement(agreements: Sequence[Agreement]) -> Group:
    """Per judge (a rubric's criteria each): metrics as rows, models as columns; then each model's
    confusion matrix and unstable items.

    Titles are lines of their own: a table title wraps to the (narrow) table's width."""
    judges: dict[str, list[Agreement]] = {}
    for entry in agreements:
        judges.setdefault(entry.judge, []).append(entry)
    parts: list[Any] = []
    for group in judges.values():
        parts += [Text("")] if parts else []
        parts += _agreement(group)
    return Group(*parts)


def _agreement(agreements: Sequence[Agreement]) -> list[Any]:
    """One judge's agreement, a column per model."""
    table = Table()
    table.add_column("metric")
    for entry in agreements:  # a jury's jurors beside it, each said to be one
        table.add_column(line(entry.model + (" (juror)" if entry.jury else "")), justify="right")
    rows: list[tuple[str, Callable[[Agreement], str]]] = [
        ("items", lambda a: str(a.items)),
        ("errors", lambda a: str(a.errors)),
        ("accuracy", lambda a: figure(a.accuracy, True)),
        ("Cohen's kappa", lambda a: figure(a.kappa)),
        ("Spearman", lambda a: figure(a.spearman)),
        ("mean abs. error", lambda a: figure(a.mae)),
        ("self-consistency", lambda a: figure(a.self_consistency, True)),
        ("jurors agreeing", lambda a: figure(a.juror_agreement, True)),
        ("tokens", lambda a: f"{a.input_tokens + a.output_tokens:,}"),
        ("cached input tokens", lambda a: f"{a.cached_input_tokens:,}" if a.cached_input_tokens else MISSING),
        ("cost", lambda a: cost(a.cost)),
    ]
    for label, cell in rows:
        values = [cell(a) for a in agreements]
        if any(v != MISSING for v in values):
            table.add_row(label, *values)
    parts: list[Any] = [line(f"agreement with human labels: {agreements[0].judge}"), table]
    for entry in agreements:
        if entry.confusion:
            matrix = Table()
            matrix.add_column("human \\ judge")
            for label in entry.confusion.labels:
                matrix.add_column(line(label), justify="right")
            for label, counts in zip(entry.confusion.labels, entry.confusion.matrix, strict=True):
                matrix.add_row(line(label), *map(str, counts))
            parts += [Text(""), line(f"confusion matrix ({entry.model}): rows human, columns judge"), matrix]
        if entry.unstable:
            shown = ", ".join(entry.unstable[:20]) + (" …" if len(entry.unstable) > 20 else "")
            parts += [Text(""), line(f"unstable items ({entry.model}): {shown}", "yellow")]
    return parts
