"""Multi-agent conversations with a planted decisive mistake at a known step.

A planner, a researcher, an analyst, a reviewer and a writer work on a brief. Each step is a child
span of the conversation (OpenInference AGENT, `agent.name`), the agent's message in `output.value`.
One agent may make the mistake that makes the final brief wrong: the planner drops a requirement,
the researcher quotes the wrong figure (its source document is in a TOOL span under its step),
the analyst adds the costs up wrong, or the writer reverses the analyst's conclusion. Later agents
pass the mistake on, and the reviewer approves either way, so the judge has to find where the
error entered, not where it shows. Controls plant nothing (expected "none").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bench.quality.recorder import Case, Recorder, categorical, finish, span_id

AGENTS = ["planner", "researcher", "analyst", "reviewer", "writer"]
INSTRUCTIONS = (
    "The trace {{ trace }} records agents working together on the task in the root span's input. Each "
    "step of the conversation is a child span named after its agent, with the agent's message in "
    "output.value. Which agent made the decisive mistake, the error that made the final answer wrong "
    "(a wrong figure, a dropped requirement, a miscalculation, a reversed conclusion)? An agent that only "
    "repeated an earlier mistake did not make it. Answer none if the final answer is correct. Cite the "
    "span of the step with the mistake."
)


@dataclass(frozen=True)
class Domain:
    """A brief with three requirements, a sourced figure, three costs against a budget."""

    key: str
    subject: str
    requirements: tuple[str, str, str]
    source_title: str
    source: str
    figure_label: str
    figure: str
    wrong_figure: str
    constraint: str  # what the researcher finds about the third requirement
    currency: str
    costs: tuple[tuple[str, int], ...]
    budget: int
    undercount: int  # how far the analyst's wrong sum falls short
    reduced: str  # the right recommendation: the costs exceed the budget
    full: str  # the wrong one
    background: tuple[str, ...]  # true, harmless sentences that make long logs long


DOMAINS = [
    Domain(
        key="mealkit",
        subject="launching our meal-kit service in Portugal",
        requirements=(
            "quote the 2024 market growth from the Euromonitor excerpt",
            "check that the first-year cost stays within the EUR 400,000 budget",
            "cover refrigerated delivery outside Lisbon and Porto",
        ),
        source_title="Euromonitor Passport, Meal Kits in Portugal (2024 edition), p. 3",
        source=(
            "The Portuguese meal-kit market grew 4.2% in 2024 to EUR 61 million, after 9.8% in 2023. Growth is "
            "concentrated in Lisbon and Porto, which account for 71% of subscriptions. Average basket: EUR 38."
        ),
        figure_label="the 2024 market growth",
        figure="4.2%",
        wrong_figure="14.2%",
        constraint=(
            "our courier partner runs refrigerated vans only in Lisbon and Porto; elsewhere we would need a "
            "second carrier at about EUR 2.10 per box, so year one should stay in the two cities"
        ),
        currency="EUR",
        costs=(("marketing", 180_000), ("delivery fleet and cold storage", 150_000), ("local staff", 90_000)),
        budget=400_000,
        undercount=100_000,
        reduced="launch in Lisbon only in year one and add Porto once the budget allows",
        full="launch in Lisbon and Porto at once, as planned",
        background=(
            "Subscription churn in Iberian meal-kit markets averages 11% a month in the first year.",
            "Competitors in Portugal price a four-meal box between EUR 34 and EUR 41.",
            "Customer surveys rank freshness above price for 58% of Lisbon respondents.",
            "Our Spanish launch reached break-even after 19 months.",
            "Packaging must meet the 2025 Portuguese rules on single-use plastics.",
            "Weekend delivery slots are the most requested in the pilot survey.",
            "Local sourcing of vegetables lowers cost per box by roughly 6%.",
            "The Lisbon warehouse lease offers a 24-month option with a 6-month break clause.",
        ),
    ),
    Domain(
        key="robots",
        subject="buying 12 Kestrel picking robots for the Leeds warehouse",
        requirements=(
            "quote Kestrel's measured picks per hour from the pilot report",
            "keep the capital cost within GBP 900,000",
            "confirm the robots fit our 1.2 m aisles",
        ),
        source_title="Leeds pilot report, week 6 (operations team)",
        source=(
            "Over six weeks, the two Kestrel KR-4 units averaged 310 picks per hour against 140 for manual "
            "pickers, with 99.2% pick accuracy. Downtime was 3.1%, mostly charging queues at shift change."
        ),
        figure_label="Kestrel's measured picks per hour",
        figure="310 picks per hour",
        wrong_figure="510 picks per hour",
        constraint=(
            "the KR-4 needs 1.1 m of clearance, so it fits our 1.2 m aisles, but only with the narrow "
            "charging docks (included in the integration quote)"
        ),
        currency="GBP",
        costs=(("robots (12 x GBP 68,000)", 816_000), ("integration", 95_000), ("training", 24_000)),
        budget=900_000,
        undercount=100_000,
        reduced="buy 11 robots now, or negotiate the price down by GBP 35,000 before buying 12",
        full="buy all 12 robots at the quoted price",
        background=(
            "Peak season in Leeds runs from October to January, when volume doubles.",
            "Manual pickers walk about 14 km per shift on the current layout.",
            "The warehouse management system already exposes a pick-task API.",
            "Kestrel offers a five-year service plan priced separately.",
            "Insurance for autonomous equipment adds a small premium to the site policy.",
            "The union asked for retraining commitments before any automation.",
            "Two competing vendors declined to run a pilot on our site.",
            "Battery replacement is due after about 4,000 cycles.",
        ),
    ),
    Domain(
        key="summit",
        subject="holding the 2026 partner summit at the Harbourview Centre",
        requirements=(
            "quote the venue's seated capacity from its fact sheet",
            "keep the total cost within USD 250,000",
            "ensure step-free access to every session room",
        ),
        source_title="Harbourview Centre fact sheet (rev. January 2025)",
        source=(
            "Main hall: 640 seated (theatre), 900 standing. Six breakout rooms of 40-120 seats. Loading dock "
            "on level 0; on-site catering only; AV package optional."
        ),
        figure_label="the main hall's seated capacity",
        figure="640 seats",
        wrong_figure="960 seats",
        constraint=(
            "breakout rooms 5 and 6 are on a mezzanine reached by stairs only, so sessions must be "
            "scheduled in rooms 1-4 and the main hall"
        ),
        currency="USD",
        costs=(("venue hire", 118_000), ("catering", 84_000), ("AV and streaming", 61_000)),
        budget=250_000,
        undercount=50_000,
        reduced="book Harbourview but drop the streaming package to come in under USD 250,000",
        full="book Harbourview with the full AV and streaming package",
        background=(
            "Last year's summit drew 540 partners and 60 staff.",
            "The harbour ferry stops 300 m from the venue entrance.",
            "Hotel blocks within walking distance hold about 700 rooms.",
            "Partners rated networking time as the most valuable part of the 2025 event.",
            "The venue requires a 30% deposit on signature.",
            "Our events team prefers venues with on-site catering.",
            "The city's conference tax is included in the venue quote.",
            "A welcome reception on the terrace is possible in fair weather.",
        ),
    ),
]


def money(currency: str, amount: int) -> str:
    return f"{currency} {amount:,}"


def padding(domain: Domain, rng: random.Random, sentences: int) -> str:
    """Background the agents discuss in long logs: true, on topic, and beside the point."""
    return " ".join(rng.choice(domain.background) for _ in range(sentences))


def conversation(seed: int, domain: Domain, mistake: str, long: bool, path: Path) -> Case:
    """Record one conversation about `domain` where agent `mistake` (or "none") errs; write it to `path`."""
    rng = random.Random(seed)
    pad = 6 if long else 0
    drop = mistake == "planner"
    total = sum(amount for _, amount in domain.costs)
    stated_total = total - domain.undercount if mistake == "analyst" else total
    over_stated = stated_total > domain.budget
    conclusion = domain.reduced if over_stated else domain.full
    written = domain.full if mistake == "writer" else conclusion
    figure = domain.wrong_figure if mistake == "researcher" else domain.figure
    task = (
        f"Prepare a short brief for the board on {domain.subject}. Requirements: (1) {domain.requirements[0]}; "
        f"(2) {domain.requirements[1]}; (3) {domain.requirements[2]}."
    )
    rec = Recorder(seed, f"brief-team-{domain.key}")
    steps: dict[str, str] = {}
    with rec.span("conversation", "AGENT", inputs=task, attributes={"session.id": f"brief-{seed}"}) as root:

        def say(agent: str, heard: str, message: str, ms: float) -> str:
            with rec.span(agent, "AGENT", root, heard, {"agent.name": agent}) as step:
                rec.app.clock.advance(ms)
                finish(step, message)
            return span_id(step)

        items = [f"researcher: find {domain.requirements[0]}", f"analyst: {domain.requirements[1]}"]
        if not drop:
            items.append(f"researcher: {domain.requirements[2]}")
        items += ["reviewer: check the brief against every requirement", "writer: draft the brief"]
        plan = "Plan:\n" + "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
        if long:
            plan += f"\n\nContext for the team: {padding(domain, rng, pad)}"
        steps["planner"] = say("planner", task, plan, 2400)

        if long:
            say("researcher", "Background first, please.", f"Background notes: {padding(domain, rng, pad * 2)}", 3100)
        with rec.span(
            "researcher", "AGENT", root, f"Find {domain.requirements[0]}.", {"agent.name": "researcher"}
        ) as step:
            source = rec.leaf(
                "search_documents",
                "TOOL",
                step,
                {"query": domain.figure_label, "top_k": 1},
                {"title": domain.source_title, "text": domain.source},
                420,
                {"tool.name": "search_documents"},
            )
            found = f"From {domain.source_title}: {domain.figure_label} is {figure}."
            if not drop:
                found += f" On requirement 3: {domain.constraint}."
            if long:
                found += f" Further notes: {padding(domain, rng, pad)}"
            rec.app.clock.advance(1800)
            finish(step, found)
        steps["researcher"] = span_id(step)

        lines = [f"{name}: {money(domain.currency, amount)}" for name, amount in domain.costs]
        verdict = "over" if over_stated else "within"
        gap = abs(stated_total - domain.budget)
        analysis = (
            "First-year costs: " + "; ".join(lines) + f". Total {money(domain.currency, stated_total)} against a "
            f"budget of {money(domain.currency, domain.budget)}: {verdict} budget by {money(domain.currency, gap)}. "
            f"Recommendation: {conclusion}."
        )
        if long:
            analysis += f" Sensitivity notes: {padding(domain, rng, pad)}"
        steps["analyst"] = say("analyst", found, analysis, 2900)

        checked = "the figure is quoted from its source and the costs are summed against the budget"
        if not drop:
            checked += ", and requirement 3 is covered"
        review = f"Reviewed: {checked}. Approved for drafting."
        if long:
            review += f" Style notes: keep it under a page. {padding(domain, rng, pad // 2)}"
        steps["reviewer"] = say("reviewer", analysis, review, 1500)

        brief = (
            f"Board brief: {domain.subject}.\nMarket: {domain.figure_label} is {figure} ({domain.source_title}).\n"
            f"Cost: {money(domain.currency, stated_total)} against a budget of {money(domain.currency, domain.budget)}."
            f"\nRecommendation: {written}."
        )
        if not drop:
            brief += f"\nDelivery and access: {domain.constraint}."
        if long:
            brief += f"\nAppendix: {padding(domain, rng, pad * 2)}"
        steps["writer"] = say("writer", review, brief, 3300)
        finish(root, brief)
    if mistake == "none":
        decisive = [steps["researcher"], steps["analyst"], steps["writer"]]
    else:
        decisive = [steps[mistake]] + ([span_id(source)] if mistake == "researcher" else [])
    return rec.write(
        path,
        long,
        kind="multi_agent",
        control=mistake == "none",
        name="decisive_mistake",
        instructions=INSTRUCTIONS,
        value_type=categorical([*AGENTS, "none"]),
        expected=mistake,
        decisive_span_ids=decisive,
        planted={
            "none": "nothing: every agent is right",
            "planner": f"the planner drops requirement 3 ({domain.requirements[2]})",
            "researcher": f"the researcher quotes {domain.wrong_figure}; the source says {domain.figure}",
            "analyst": f"the analyst sums the costs to {money(domain.currency, stated_total)}, "
            f"not {money(domain.currency, total)}",
            "writer": "the writer recommends the full plan although the analyst found it over budget",
        }[mistake],
    )
