"""An OTLP/HTTP receiver: applications export spans (and GenAI log events) to it, and it writes
them into a `SpanSink`, the trace store.

    app.py        the endpoints: checks, decoding, answers (`Receiver`, `receiver_app`)
    body.py       bodies read within bounds: size limit, byte budget, decompression (`Refusal`)
    otlp_json.py  OTLP/JSON read into protobuf messages (hex ids), responses written as JSON
    writer.py     the one writer thread and its bounded queue (`SpanSink`, `SinkResult`)

The receiver knows the store only through the `SpanSink` protocol, so it is tested against a
fake sink and run (`trace-tools collect`) against `trace_tools.store.TraceDatabase`.
"""

from trace_tools.receiver.app import DEFAULT_MAX_BODY_BYTES, LOOPBACK_HOSTS, Receiver, receiver_app
from trace_tools.receiver.writer import SinkResult, SpanSink, WriterStats

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "LOOPBACK_HOSTS",
    "Receiver",
    "SinkResult",
    "SpanSink",
    "WriterStats",
    "receiver_app",
]
