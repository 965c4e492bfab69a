"""RAG answers, tool loops and error cascades: single-agent traces with a known verdict.

- RAG: a RETRIEVER span returns documents, an LLM span answers; the answer contradicts the one
  document that decides the question, or (controls) agrees with it. Bool: supported or not.
- Tool loops: an agent calls the same tool with the same arguments again and again, getting
  nothing new; controls finish with distinct calls (one retry with corrected arguments included).
- Error cascades: an early component fails quietly (status OK with an empty or wrong result, or
  an exception it logged and swallowed) and later components fail loudly (ERROR status, stack
  traces, retries). A control's first failure is itself loud, with a harmless event before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from bench.quality.recorder import Case, Recorder, categorical, finish, span_id
from fixtures.generate import dumps

# --------------------------------------------------------------------------------------
# RAG
# --------------------------------------------------------------------------------------

RAG_INSTRUCTIONS = (
    "The trace {{ trace }} records a retrieval-augmented answer: a retriever span returns documents "
    "(retrieval.documents.*) and an LLM span writes the answer that the root span returns. Is the answer "
    "supported by the retrieved documents? true if what it states agrees with them, false if any claim "
    "contradicts them. Cite the span holding the deciding document and the span with the answer."
)


@dataclass(frozen=True)
class Topic:
    key: str
    question: str
    document: str  # decides the question
    distractors: tuple[str, str]
    supported: str
    contradicting: str


TOPICS = [
    Topic(
        "refund",
        "I bought a rain jacket 7 weeks ago and never wore it, tags still on. Can I still get a refund?",
        "Refund policy (effective March 1, 2025): refunds are accepted within 30 days of delivery for unused "
        "items with tags attached. After 30 days we can offer store credit only.",
        (
            "Return shipping: print the prepaid label from your order page; a $6.95 fee is deducted unless "
            "the item is defective.",
            "Exchanges for a different size or colour can be requested within 30 days of delivery.",
        ),
        "No. Refunds are accepted within 30 days of delivery, so after 7 weeks we can offer store credit only.",
        "Yes! Refunds are accepted within 90 days of purchase, so your jacket is still eligible for a full refund.",
    ),
    Topic(
        "warranty",
        "My Aurora X2 headphones are 10 months old and the battery no longer holds a charge. Is that covered?",
        "Aurora X2 warranty: the headphones carry a 1-year limited warranty. The battery is a wear part and is "
        "covered for 6 months from purchase.",
        (
            "Aurora X2 care guide: store the headphones at room temperature and charge at least once a month.",
            "Warranty claims need the order number and a short description of the fault.",
        ),
        "No: the battery is covered for 6 months from purchase, and yours is 10 months old.",
        "Yes: the battery is covered for the full 2-year warranty, so a 10-month-old battery will be replaced.",
    ),
    Topic(
        "ratelimit",
        "How many API requests per minute can I make on the Free plan?",
        "Rate limits: the Free plan allows 60 requests per minute; the Pro plan allows 600 requests per minute. "
        "Requests over the limit receive HTTP 429.",
        (
            "Authentication: send your key in the Authorization header as a Bearer token.",
            "Pagination: list endpoints return at most 100 items per page with a next cursor.",
        ),
        "The Free plan allows 60 requests per minute; more than that returns HTTP 429.",
        "The Free plan allows 600 requests per minute; more than that returns HTTP 429.",
    ),
    Topic(
        "retention",
        "We are on the Team plan. How long are our request logs kept?",
        "Log retention: request logs are kept for 14 days on the Team plan and for 90 days on the Enterprise "
        "plan. Deleted projects lose their logs immediately.",
        (
            "Exporting logs: the Team plan can export logs as CSV from the dashboard.",
            "Audit events (sign-ins, role changes) are a separate stream from request logs.",
        ),
        "On the Team plan request logs are kept for 14 days.",
        "On the Team plan request logs are kept for 90 days, the same as Enterprise.",
    ),
    Topic(
        "baggage",
        "How many checked bags are included in an Economy Light fare to Madrid?",
        "Fare families (Europe): Economy Light includes no checked bag; Economy Classic includes 1 bag of 23 kg; "
        "Economy Flex includes 2 bags of 23 kg.",
        (
            "Cabin baggage: one bag of up to 8 kg plus a personal item on all fares.",
            "Sports equipment can be added as a special item up to 24 hours before departure.",
        ),
        "None: Economy Light includes no checked bag, so you would need to add one or choose Economy Classic.",
        "Economy Light includes 1 checked bag of 23 kg, so you can check one suitcase at no extra cost.",
    ),
    Topic(
        "leave",
        "I'm the secondary caregiver for our new baby. How much paid parental leave do I get?",
        "Parental leave policy: primary caregivers receive 16 weeks at full pay; secondary caregivers receive "
        "6 weeks at full pay, to be taken within the child's first year.",
        (
            "Holiday policy: employees accrue 25 days of annual leave plus public holidays.",
            "Adoption leave follows the same rules as parental leave.",
        ),
        "As secondary caregiver you get 6 weeks at full pay, to take within the baby's first year.",
        "As secondary caregiver you get 16 weeks at full pay, the same as primary caregivers.",
    ),
]

FILLER = (
    "This article is maintained by the support knowledge team and reviewed every quarter.",
    "For questions not covered here, contact support through the help centre chat.",
    "Older versions of this article are archived and no longer apply.",
    "Terms in this article follow the definitions in the customer agreement.",
    "Regional exceptions, where they exist, are listed in the appendix of the customer agreement.",
    "Screenshots in this article may differ slightly from the current interface.",
)


def rag(seed: int, topic: Topic, supported: bool, long: bool, path: Path) -> Case:
    """An answer to `topic`'s question that agrees with its deciding document or contradicts it."""
    rng = random.Random(seed)
    docs = [topic.document, *topic.distractors]
    if long:  # many retrieved chunks, each padded like real help-centre pages
        docs = [f"{d} {' '.join(rng.choice(FILLER) for _ in range(8))}" for d in docs]
        docs += [" ".join(rng.choice(FILLER) for _ in range(9)) for _ in range(5)]
    order = list(range(len(docs)))
    rng.shuffle(order)
    answer = topic.supported if supported else topic.contradicting
    rec = Recorder(seed, f"help-bot-{topic.key}")
    with rec.span("rag_query", "CHAIN", inputs=topic.question) as root:
        with rec.span("retrieve", "RETRIEVER", root, topic.question) as retriever:
            rec.leaf(
                "embed_query",
                "EMBEDDING",
                retriever,
                topic.question,
                None,
                35,
                {"embedding.model_name": "text-embedding-3-small"},
            )
            rec.app.clock.advance(80)
            for rank, i in enumerate(order):
                prefix = f"retrieval.documents.{rank}.document"
                retriever.set_attribute(f"{prefix}.id", f"kb-{topic.key}-{i}")
                retriever.set_attribute(f"{prefix}.content", docs[i])
                retriever.set_attribute(f"{prefix}.score", round(0.9 - 0.04 * rank, 4))
        context = "\n\n".join(docs[i] for i in order)
        prompt = [
            {"role": "system", "content": f"Answer using ONLY the context below.\n\nContext:\n{context}"},
            {"role": "user", "content": topic.question},
        ]
        llm = rec.leaf(
            "generate_answer",
            "LLM",
            root,
            {"messages": prompt, "model": "gpt-4o-mini"},
            answer,
            1300,
            {"llm.model_name": "gpt-4o-mini-2024-07-18"},
        )
        finish(root, answer)
    rec.write(path)
    return Case(
        id=path.stem,
        kind="rag",
        size="long" if long else "short",
        control=supported,
        file=path.name,
        name="answer_supported",
        instructions=RAG_INSTRUCTIONS,
        value_type={"kind": "bool"},
        expected=supported,
        decisive_span_ids=[span_id(retriever), span_id(llm)],
        planted="nothing: the answer agrees with the document"
        if supported
        else f"the answer contradicts: {topic.document}",
    )


# --------------------------------------------------------------------------------------
# Tool loops
# --------------------------------------------------------------------------------------

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
    rec.write(path)
    return Case(
        id=path.stem,
        kind="tool_loop",
        size="long" if long else "short",
        control=not wasteful,
        file=path.name,
        name="efficiency",
        instructions=LOOP_INSTRUCTIONS,
        value_type=categorical(["efficient", "wasteful"]),
        expected="wasteful" if wasteful else "efficient",
        decisive_span_ids=tool_spans,
        planted=f"{errand.stuck_call[0]} called {repeats} times with the same arguments"
        if wasteful
        else "nothing: distinct calls",
    )


# --------------------------------------------------------------------------------------
# Error cascades
# --------------------------------------------------------------------------------------

CASCADE_INSTRUCTIONS = (
    "The trace {{ trace }} records a request in which several components report errors. Which component "
    "failed first, the root cause? It may have failed quietly (status OK, but an empty or wrong result, "
    "or an exception it logged and swallowed) before the loud ERROR spans that followed. Answer with the "
    "component's name (its span name) and cite its span."
)

FRAME = ("/srv/app/{component}.py", 88, "handle", "return self.client.call(request)")


@dataclass(frozen=True)
class Step:
    """A component's span: `ok`, `quiet` (OK status, `swallowed` exception or empty result) or `loud`."""

    component: str
    inputs: Any
    outputs: Any
    failure: str = "ok"
    error: tuple[str, str] | None = None  # exception type and message (quiet: swallowed; loud: raised)
    retries: int = 1
    event: tuple[str, dict[str, Any]] | None = None  # a harmless event


@dataclass(frozen=True)
class Incident:
    key: str
    request: str
    steps: tuple[Step, ...]


INCIDENTS = [
    Incident(
        "support",
        "Customer asks: how do I export my invoices as PDF?",
        (
            Step("auth", {"user": "u-4471"}, {"authorized": True, "plan": "business"}),
            Step("retriever", {"query": "export invoices as PDF", "top_k": 5}, {"documents": []}, "quiet"),
            Step("llm", {"context_documents": 0}, "You can export invoices from Settings.", "ok"),
            Step(
                "citation_check",
                {"answer_chars": 37},
                None,
                "loud",
                ("CitationError", "answer cites 0 sources, at least 1 required"),
            ),
            Step(
                "responder",
                {"status": 500},
                None,
                "loud",
                ("UpstreamError", "citation_check failed; returning HTTP 500 to the client"),
            ),
        ),
    ),
    Incident(
        "report",
        "Nightly revenue report for 2025-05-31",
        (
            Step(
                "config_loader",
                {"path": "/etc/report/db.yaml"},
                {"pool_size": 0, "source": "defaults"},
                "quiet",
                ("FileNotFoundError", "[Errno 2] No such file or directory: '/etc/report/db.yaml'"),
            ),
            Step(
                "db_pool",
                {"pool_size": 0},
                None,
                "loud",
                ("sqlalchemy.exc.TimeoutError", "QueuePool limit of size 0 overflow 0 reached, connection timed out"),
                retries=3,
            ),
            Step(
                "report_builder", {"date": "2025-05-31"}, None, "loud", ("ReportError", "no data: database unavailable")
            ),
            Step(
                "mailer",
                {"to": "finance@example.com"},
                None,
                "loud",
                ("MailError", "report not sent: nothing to attach"),
            ),
        ),
    ),
    Incident(
        "crm",
        "Sync 1,240 changed contacts to the CRM",
        (
            Step("scheduler", {"job": "crm_sync", "run": 8812}, {"started": True}),
            Step(
                "token_refresh",
                {"client_id": "sync-bot"},
                {"token": "cached", "expires_in": -3600},
                "quiet",
                ("oauthlib.oauth2.InvalidGrantError", "invalid_grant: refresh token revoked"),
            ),
            Step(
                "crm_client",
                {"batch": 1, "contacts": 200},
                None,
                "loud",
                ("httpx.HTTPStatusError", "401 Unauthorized for url https://crm.example.com/api/contacts"),
                retries=3,
            ),
            Step(
                "ledger_writer",
                {"synced": 0},
                None,
                "loud",
                ("LedgerError", "sync run 8812 failed: 0 of 1,240 contacts written"),
            ),
        ),
    ),
    Incident(
        "checkout",
        "Checkout for cart c-77120 (3 items)",
        (
            Step("cart", {"cart_id": "c-77120"}, {"items": ["SKU-88412", "SKU-10021", "SKU-55310"]}),
            Step(
                "price_cache",
                {"skus": ["SKU-88412", "SKU-10021", "SKU-55310"]},
                {"prices": {}},
                "quiet",
                ("msgpack.exceptions.ExtraData", "unpack(b) received extra data; returning empty price map"),
            ),
            Step("pricing", {"skus": 3}, None, "loud", ("KeyError", "'SKU-88412'")),
            Step("payment", {"amount": None}, None, "loud", ("PaymentError", "amount missing: cannot authorise")),
            Step("checkout_api", {"status": 500}, None, "loud", ("CheckoutError", "checkout failed at payment")),
        ),
    ),
    Incident(
        "etl",
        "Load the daily partner sales file partner_sales_2025-05-31.csv",
        (
            Step("downloader", {"file": "partner_sales_2025-05-31.csv"}, {"bytes": 1_482_113, "rows": 5000}),
            Step(
                "csv_parser",
                {"delimiter": ","},
                {"rows_parsed": 3796},
                "quiet",
                ("csv.Error", "1,204 rows skipped: field larger than field limit (131072)"),
            ),
            Step(
                "aggregator",
                {"rows": 3796},
                None,
                "loud",
                ("IntegrityError", "totals mismatch: 3,796 rows parsed vs manifest 5,000"),
            ),
            Step(
                "publisher",
                {"dataset": "sales_daily"},
                None,
                "loud",
                ("PublishError", "refusing to publish an inconsistent dataset"),
            ),
        ),
    ),
    Incident(
        "dispatch",
        "Dispatch a courier to 12 Rua Augusta, Lisboa",
        (
            Step(
                "geocoder",
                {"address": "12 Rua Augusta, Lisboa"},
                {"lat": None, "lon": None, "confidence": 0.0},
                "quiet",
            ),
            Step("router", {"lat": None, "lon": None}, None, "loud", ("ValueError", "lat must be a number, got None")),
            Step("eta_service", {"route": None}, None, "loud", ("EtaError", "no route to estimate"), retries=2),
            Step("notifier", {"channel": "sms"}, None, "loud", ("NotifyError", "courier not dispatched: no ETA")),
        ),
    ),
    Incident(
        "search",
        "Semantic search: 'quarterly churn by region'",
        (
            Step("embedder", {"text": "quarterly churn by region"}, {"dimensions": 1536, "norm": 0.0}, "quiet"),
            Step("vector_search", {"k": 10}, {"hits": 10, "scores": ["NaN"] * 3}, "ok"),
            Step("reranker", {"hits": 10}, None, "loud", ("ZeroDivisionError", "float division by zero")),
            Step(
                "llm", {"context": None}, None, "loud", ("ContextError", "no ranked context to answer from"), retries=2
            ),
        ),
    ),
    Incident(
        "profile",
        "Render the account page for user u-9031",
        (
            Step(
                "auth",
                {"service_account": "profile-svc"},
                None,
                "loud",
                ("PermissionDenied", "403: service account key expired on 2025-05-30"),
            ),
            Step(
                "cache",
                {"key": "profile:u-9031"},
                {"hit": False},
                "ok",
                event=("cache_miss", {"key": "profile:u-9031"}),
            ),
            Step(
                "profile_service",
                {"user": "u-9031"},
                None,
                "loud",
                ("httpx.HTTPStatusError", "403 Forbidden for url https://profile.internal/users/u-9031"),
                retries=2,
            ),
            Step(
                "renderer",
                {"template": "account.html"},
                None,
                "loud",
                ("RenderError", "profile missing: rendering the error page"),
            ),
        ),
    ),
]


def cascade(seed: int, incident: Incident, long: bool, path: Path) -> Case:
    """Record `incident`: healthy work, the first failure, then the loud failures it causes."""
    rng = random.Random(seed)
    rec = Recorder(seed, f"service-{incident.key}")
    first: Span | None = None
    with rec.span("handle_request", "CHAIN", inputs=incident.request) as root:
        for index, step in enumerate(incident.steps):
            if long:  # healthy periodic work that makes the log long and the failure hard to spot
                for batch in range(3):
                    rows = [
                        {"id": f"r{rng.randrange(10**6):06d}", "ok": True, "ms": rng.randrange(5, 90)}
                        for _ in range(14)
                    ]
                    rec.leaf("heartbeat", "CHAIN", root, {"step": index, "batch": batch}, {"checked": rows}, 120)
            for attempt in range(step.retries):
                with rec.span(step.component, "CHAIN", root, step.inputs, {"attempt": attempt + 1}) as span:
                    rec.app.clock.advance(250 + 40 * index)
                    finish(span, step.outputs)
                    if step.event is not None:
                        span.add_event(step.event[0], step.event[1], timestamp=rec.app.clock.now)
                    if step.failure == "quiet" and step.error is not None:
                        rec.swallow(span, *step.error)
                    elif step.failure in ("ok", "quiet"):
                        span.set_status(Status(StatusCode.OK))
                    elif step.error is not None:
                        rec.fail(span, *step.error, [(FRAME[0].format(component=step.component), *FRAME[1:])])
                if first is None and step.failure != "ok":
                    first = span
        last = incident.steps[-1]
        root.set_status(Status(StatusCode.ERROR, f"{last.component} failed: {last.error[1] if last.error else ''}"))
    assert first is not None, f"incident {incident.key} has no failure"
    rec.write(path)
    culprit = next(s for s in incident.steps if s.failure != "ok")
    return Case(
        id=path.stem,
        kind="error_cascade",
        size="long" if long else "short",
        control=culprit.failure == "loud",
        file=path.name,
        name="first_failure",
        instructions=CASCADE_INSTRUCTIONS,
        value_type=categorical(sorted({s.component for s in incident.steps})),
        expected=culprit.component,
        decisive_span_ids=[span_id(first)],
        planted=(
            f"{culprit.component} fails loudly first"
            if culprit.failure == "loud"
            else f"{culprit.component} fails quietly (status OK) first"
        ),
    )
