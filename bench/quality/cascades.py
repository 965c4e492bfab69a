"""Error cascades where the first error is not the loudest.

An early component fails quietly (status OK with an empty or wrong result, or an exception it
logged and swallowed) and later components fail loudly (ERROR status, stack traces, retries). A
control's first failure is itself loud, with a harmless event on a later OK span.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from bench.quality.recorder import Case, Recorder, categorical, finish, span_id

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
    culprit = next(s for s in incident.steps if s.failure != "ok")
    return rec.write(
        path,
        long,
        kind="error_cascade",
        control=culprit.failure == "loud",
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
