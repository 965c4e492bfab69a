"""Adding spans: duplicates replaced, malformed spans refused and counted, ids and untrusted
values kept exactly where they load from and bounded where they are indexed."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tests.trace_tools.store.otlp import proto_span, request, span_id, trace_id
from trace_tools.store import TraceDatabase, TraceQuery
from trace_tools.store.rows import MAX_REASONS
from trace_tools.store.schema import MAX_INDEXED_CHARS


def only_trace(database: TraceDatabase) -> str:
    (summary,) = database.traces(TraceQuery()).traces
    return summary.trace_id


def test_a_span_sent_again_replaces_its_earlier_copy(database: TraceDatabase) -> None:
    database.add(request(proto_span(1, 1, name="first try", error=True), proto_span(1, 2, 1)))
    result = database.add(request(proto_span(1, 1, name="retried")))
    assert (result.accepted, result.rejected) == (1, 0)
    summary = database.summary(trace_id(1).hex())
    assert (summary.span_count, summary.error_count, summary.root_name, summary.status) == (2, 0, "retried", "UNSET")
    loaded = database.load(trace_id(1).hex())
    assert [span.name for span in loaded.spans] == ["retried", "step"]
    assert loaded.warnings == []


def test_a_span_twice_in_one_export_is_kept_once(database: TraceDatabase) -> None:
    result = database.add(request(proto_span(1, 1, name="a"), proto_span(1, 1, name="b")))
    assert result.accepted == 2  # both were fine: the later copy is the one kept
    assert database.summary(trace_id(1).hex()).span_count == 1
    assert database.load(trace_id(1).hex()).spans[0].name == "b"


def test_malformed_spans_are_refused_and_counted_and_the_rest_kept(database: TraceDatabase) -> None:
    bad_link = proto_span(1, 5, 1)
    bad_link.links.append(ProtoSpan.Link(trace_id=b"\x01" * 3, span_id=span_id(9)))
    result = database.add(
        request(
            proto_span(1, 1),
            proto_span(b"\x01" * 15, 2),  # a trace id of 15 bytes
            proto_span(bytes(16), 3),  # all zero: invalid in OTLP
            proto_span(1, b"\x02" * 9),
            proto_span(1, 4, b"\x03" * 4),  # a parent id of 4 bytes
            bad_link,
            proto_span(1, 6, 1),
        )
    )
    assert (result.accepted, result.rejected) == (2, 5)
    assert result.reasons == [
        "span refused: trace id of 15 bytes (expected 16)",
        "span refused: all-zero trace id (invalid in OTLP)",
        "span refused: span id of 9 bytes (expected 8)",
        "span refused: parent span id of 4 bytes (expected 8 or none)",
        "span refused: link trace id of 3 bytes (expected 16)",
    ]
    assert sorted(span.span_id for span in database.load(trace_id(1).hex()).spans) == [
        span_id(1).hex(),
        span_id(6).hex(),
    ]


def test_reasons_are_bounded_but_every_refusal_is_counted(database: TraceDatabase) -> None:
    spans = [proto_span(b"\x01" * size, 1) for size in range(1, 16)]
    result = database.add(request(*spans))
    assert (result.accepted, result.rejected, len(result.reasons)) == (0, 15, MAX_REASONS)
    assert database.traces(TraceQuery()).total == 0


def test_session_and_user_ids_come_from_any_convention_and_the_first_seen_wins(database: TraceDatabase) -> None:
    database.add(
        request(proto_span(1, 2, 1, attributes={"gen_ai.conversation.id": "conv-7"}), resource={"user.id": "u-1"})
    )
    database.add(request(proto_span(1, 1, attributes={"session.id": "later", "user.id": "u-2"})))
    database.add(request(proto_span(2, 1, attributes={"mlflow.trace.session": "s-2", "mlflow.trace.user": 42})))
    first, second = database.summary(trace_id(1).hex()), database.summary(trace_id(2).hex())
    assert (first.session_id, first.user_id) == ("conv-7", "u-1")
    assert (second.session_id, second.user_id) == ("s-2", "42")


def test_the_root_names_the_trace_once_it_arrives(database: TraceDatabase) -> None:
    database.add(request(proto_span(1, 2, 1, name="child", error=True), service="worker"))
    before = database.summary(trace_id(1).hex())
    assert (before.root_name, before.service, before.status, before.error_count) == (None, "worker", "UNSET", 1)
    database.add(request(proto_span(1, 1, name="handle", start_ms=-5, duration_ms=20), service="gateway"))
    after = database.summary(trace_id(1).hex())
    assert (after.root_name, after.service, after.status, after.span_count) == ("handle", "gateway", "UNSET", 2)
    assert after.duration_ms == 20.0
    database.add(request(proto_span(1, 3, name="second root", error=True), service="gateway"))
    assert database.summary(trace_id(1).hex()).status == "ERROR"  # any failed root fails the trace


def test_untrusted_values_are_kept_whole_and_indexed_bounded(database: TraceDatabase) -> None:
    name = "\x00odd\u202e" + "n" * 1_000_000
    big = "v" * 10_000_000
    span = proto_span(1, 1, name=name, attributes={"session.id": "s\x00" * 500, "blob": big})
    span.end_time_unix_nano = 2**64 - 1
    assert database.add(request(span, service="svc\x00" * 100)).accepted == 1

    summary = database.summary(trace_id(1).hex())
    assert summary.root_name is not None and len(summary.root_name) == MAX_INDEXED_CHARS
    assert summary.root_name.startswith("\ufffdodd\u202e")
    assert summary.session_id == ("s\ufffd" * 500)[:MAX_INDEXED_CHARS]
    assert database.traces(TraceQuery(session_id="s\x00" * 128)).total == 1
    (loaded,) = database.load(trace_id(1).hex()).spans
    assert (loaded.name, loaded.attributes["blob"], loaded.end_ns) == (name, big, 2**64 - 1)
    assert loaded.resource["service.name"] == "svc\x00" * 100
