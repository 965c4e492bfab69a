"""Tool loops: an agent calls the same tool with the same arguments again and again, getting
nothing new; controls finish with distinct calls (one retry with corrected arguments included).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.quality.rag import FILLER
from bench.quality.recorder import Case, Recorder, categorical, finish, span_id
from fixtures.generate import dumps

LOOP_INSTRUCTIONS = (
    "The trace {{ trace }} records an agent using tools to finish a task. Was the run efficient or "
    "wasteful? wasteful: it calls the same tool again and again with the same arguments and gets nothing "
    "new; efficient: each tool call moves the task forward (a retry with corrected arguments is fine). "
    "Cite the tool spans that decide it."
)


@dataclass(frozen=True)
class Errand:
    """A task for a tool-using agent: the call it may repeat, and the calls that finish it."""

    key: str
    task: str
    stuck_call: tuple[str, dict[str, Any], Any]  # tool, arguments, the unhelpful result
    calls: tuple[tuple[str, dict[str, Any], Any], ...]  # an efficient run
    done: str
    gave_up: str


ERRANDS = [
    Errand(
        "flights",
        "Find and book the cheapest direct flight from Lisbon to Berlin on 14 July 2025.",
        (
            "search_flights",
            {"origin": "LIS", "destination": "BER", "date": "2025-07-14", "direct": True},
            {"flights": []},
        ),
        (
            (
                "search_flights",
                {"origin": "LIS", "destination": "BER", "date": "2025-07-14", "direct": True},
                {"flights": [{"id": "TP538", "price_eur": 142}, {"id": "FR2214", "price_eur": 96}]},
            ),
            (
                "book_flight",
                {"flight_id": "FR2214", "passenger": "M. Duarte"},
                {"status": "confirmed", "pnr": "K7Q2ZD"},
            ),
            (
                "send_email",
                {"to": "m.duarte@example.com", "template": "booking_confirmation", "pnr": "K7Q2ZD"},
                {"sent": True},
            ),
        ),
        "Booked FR2214 (EUR 96), confirmation K7Q2ZD sent.",
        "I could not find a direct flight from Lisbon to Berlin on 14 July.",
    ),
    Errand(
        "order",
        "A customer asks where order A-10293 is.",
        ("get_order", {"order_id": "A-10293"}, {"error": "upstream timeout after 10 s"}),
        (
            ("get_order", {"order_id": "A10293"}, {"error": "order not found"}),
            (
                "get_order",
                {"order_id": "A-10293"},
                {"order_id": "A-10293", "status": "shipped", "tracking": "1Z999AA10123456784"},
            ),
            (
                "get_shipment",
                {"tracking": "1Z999AA10123456784"},
                {"carrier": "UPS", "eta": "2025-06-04", "last_scan": "Leeds hub"},
            ),
        ),
        "Order A-10293 shipped with UPS; it was last scanned at the Leeds hub and arrives on 4 June.",
        "Sorry, I could not look up order A-10293 right now.",
    ),
    Errand(
        "weather",
        "Will it rain in Springfield, Illinois tomorrow afternoon?",
        (
            "geocode",
            {"query": "Springfield"},
            {"matches": 34, "first": "Springfield, MO", "hint": "add a state to narrow down"},
        ),
        (
            ("geocode", {"query": "Springfield, IL"}, {"matches": 1, "lat": 39.7817, "lon": -89.6501}),
            (
                "forecast",
                {"lat": 39.7817, "lon": -89.6501, "day": "tomorrow"},
                {"afternoon": {"rain_probability": 0.7, "mm": 4.5}},
            ),
        ),
        "Likely: a 70% chance of rain tomorrow afternoon in Springfield, IL (about 4.5 mm).",
        "I could not work out which Springfield you mean.",
    ),
    Errand(
        "sql",
        "How many active subscriptions did we have at the end of May 2025?",
        (
            "run_sql",
            {"query": "SELECT count(*) FROM subscriptions WHERE status = 'active' AND started_at < '2025-06-01'"},
            {"rows": [[18422]]},
        ),
        (
            (
                "run_sql",
                {"query": "SELECT count(*) FROM subscription WHERE status = 'active'"},
                {"error": 'relation "subscription" does not exist'},
            ),
            (
                "run_sql",
                {"query": "SELECT count(*) FROM subscriptions WHERE status = 'active' AND started_at < '2025-06-01'"},
                {"rows": [[18422]]},
            ),
        ),
        "18,422 subscriptions were active at the end of May 2025.",
        "18,422 subscriptions were active at the end of May 2025 (checked several times).",
    ),
]


def tool_loop(seed: int, errand: Errand, repeats: int, long: bool, path: Path) -> Case:
    """An agent that repeats `errand`'s stuck call `repeats` times (0: an efficient control)."""
    rng = random.Random(seed)
    rec = Recorder(seed, f"agent-{errand.key}")
    wasteful = repeats > 0
    tool_spans: list[str] = []
    with rec.span(f"{errand.key}_agent", "AGENT", inputs=errand.task) as root:
        plan = [errand.stuck_call] * repeats if wasteful else list(errand.calls)
        for turn, (tool, arguments, result) in enumerate(plan):
            thought = (
                f"Calling {tool} with {dumps(arguments)}."
                if turn == 0 or not wasteful
                else rng.choice(
                    ["Let me try that again.", "Trying once more.", "Retrying the same call.", "Maybe it works now."]
                )
            )
            if long:
                thought += " Reasoning: " + " ".join(rng.choice(FILLER) for _ in range(6))
            rec.leaf(
                "llm",
                "LLM",
                root,
                {"task": errand.task, "turn": turn},
                thought,
                900 + 37 * turn,
                {"llm.model_name": "gpt-4o-mini"},
            )
            span = rec.leaf(tool, "TOOL", root, arguments, result, 400, {"tool.name": tool})
            tool_spans.append(span_id(span))
        reply = errand.gave_up if wasteful else errand.done
        rec.leaf(
            "llm", "LLM", root, {"task": errand.task, "turn": len(plan)}, reply, 800, {"llm.model_name": "gpt-4o-mini"}
        )
        finish(root, reply)
    return rec.write(
        path,
        long,
        kind="tool_loop",
        control=not wasteful,
        name="efficiency",
        instructions=LOOP_INSTRUCTIONS,
        value_type=categorical(["efficient", "wasteful"]),
        expected="wasteful" if wasteful else "efficient",
        decisive_span_ids=tool_spans,
        planted=f"{errand.stuck_call[0]} called {repeats} times with the same arguments"
        if wasteful
        else "nothing: distinct calls",
    )
