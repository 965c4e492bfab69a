"""Which format a file's content is in, told from the content itself (never from the file name).

- a JSON object with `resourceSpans`: OTLP/JSON traces (`otlp_json`); with `resourceLogs`: OTLP/JSON
  logs, whose records become events of their spans (`logs`)
- one such object per line: OTLP/JSON Lines (and Lines of the other JSON formats)
- a JSON object with `info` and `data.spans`, or a list of them: MLflow trace JSON (`mlflow`)
- a JSON object with `data` (traces) or `traceID` and `spans`: Jaeger JSON (`jaeger`)
- a JSON list of objects with `traceId` and `id`: Zipkin v2 JSON (`zipkin`)
- objects with `context.trace_id` printed back to back: ConsoleSpanExporter output, with
  ConsoleLogExporter's records among them (`console`)
- anything else that is not text: OTLP protobuf traces or logs, plain or length-prefixed (`otlp_proto`)

Content in none of these is "not a trace" (`NOT_A_TRACE`): a directory passes over such a file
(a README, a results file, labels); a file that is one of them but broken is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from trace_tools.errors import TraceLoadError
from trace_tools.loaders import console, jaeger, logs, mlflow, otlp_json, otlp_proto, zipkin
from trace_tools.loaders.common import FORMATS, NOT_A_TRACE, Collected

Parser = Callable[[Any, str], Collected]

_LEADING_SPACE = re.compile(rb"[ \t\r\n\f\v]*")
_NOT_PARSED = object()


def collect(data: bytes, source: str, strict: bool = False) -> Collected:
    """The spans (and log records) in a file's decompressed content.

    Raises:
        TraceLoadError: the content is in no format understood (the problem starts with
            `NOT_A_TRACE`), or it is in one but malformed.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # where the content starts, found without copying it (`strip()` copies a whole file)
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]  # matches the empty string
    if start == len(data):
        raise TraceLoadError(source, "is empty")
    if data[start : start + 1] in (b"{", b"["):
        return _from_json_text(data, source, strict)
    if _looks_like_text(data):
        if console.looks_like_console(data):  # the application printed something first
            return console.parse_stream(data, source, strict)
        raise TraceLoadError(source, f"{NOT_A_TRACE}: text in none of the formats understood; {FORMATS}")
    return otlp_proto.parse_binary(data, source)


def from_document(document: Any, source: str) -> Collected:
    """The spans of a parsed JSON document in any of the JSON formats.

    Raises:
        TraceLoadError: the document is in none (`NOT_A_TRACE`), or malformed.
    """
    parser = _parser(document)
    if parser is None:
        raise TraceLoadError(source, f"{NOT_A_TRACE}: JSON in none of the formats understood; {FORMATS}")
    return _parse(parser, document, source)


def _parse(parser: Parser, document: Any, source: str) -> Collected:
    """Run a format's parser; a field of the wrong JSON type deep inside is a one-line error too."""
    try:
        return parser(document, source)
    except (AttributeError, TypeError, KeyError) as exc:
        raise TraceLoadError(
            source, f"is not a well-formed {_FORMAT_NAMES[parser]} document: a field has the wrong JSON type"
        ) from exc


def _parser(document: Any, nested: bool = False) -> Parser | None:
    if isinstance(document, dict):
        if otlp_json.is_otlp_request(document):
            return otlp_json.parse_request
        if logs.is_logs_request(document):
            return _logs_request
        if mlflow.is_mlflow_trace(document):
            return mlflow.parse_trace
        if jaeger.is_jaeger(document):
            return jaeger.parse
        if console.is_console_span(document):
            return _console_span
        if console.is_console_log(document):
            return console.parse_log
    elif isinstance(document, list) and document:
        if zipkin.is_zipkin_span(document[0]):
            return zipkin.parse_spans
        # a list of documents (MLflow traces, Zipkin's traces as lists of spans), one level deep
        if not nested and _parser(document[0], nested=True) is not None:
            return _each
    return None


def _logs_request(document: dict[str, Any], source: str) -> Collected:
    return otlp_proto.convert_logs(logs.request_from_json(document, source), source)


def _console_span(document: dict[str, Any], source: str) -> Collected:
    return Collected(spans=[console.parse_span(document, source)])


def _each(document: list[Any], source: str) -> Collected:
    """Every item of a list whose first item is a document: a later item that is none is an error
    (the file is a trace file, broken), not a reason to pass the file over."""
    collected = Collected()
    for index, item in enumerate(document):
        parser = _parser(item, nested=True)
        if parser is None:
            raise TraceLoadError(f"{source}[{index}]", "is not in the trace format of the list's first item")
        collected.extend(_parse(parser, item, f"{source}[{index}]"))
    return collected


def _from_json_text(data: bytes, source: str, strict: bool) -> Collected:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first = _first_line_document(data) if b"\n" in data.strip() else _NOT_PARSED
        if first is not _NOT_PARSED and _parser(first) is not None:
            return parse_lines(data, source, strict)
        if console.looks_like_console(data):  # indented objects, maybe among other output
            return console.parse_stream(data, source, strict)
        if first is not _NOT_PARSED:
            raise TraceLoadError(
                source, f"{NOT_A_TRACE}: JSON Lines in none of the formats understood; {FORMATS}"
            ) from exc
        if "utf-8" in str(exc).lower():
            raise TraceLoadError(source, "contains bytes that are not valid UTF-8") from exc
        raise TraceLoadError(source, f"is not valid JSON ({_describe(exc, data)})") from exc
    return from_document(document, source)


def parse_lines(data: bytes, source: str, strict: bool = False) -> Collected:
    """JSON Lines: one document per line (the Collector's `file` exporter writes an OTLP request per line).

    A line that is not a document of a format understood (cut by a crash, garbled) is skipped
    and said in the traces' warnings, as a log reader would; `strict` refuses the file instead.
    """
    collected = Collected()
    bad: list[str] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        parser = None
        try:
            document = orjson.loads(line)
            parser = _parser(document)
            problem = "" if parser else "is not a span, trace or log request"
        except orjson.JSONDecodeError as exc:
            problem = f"is not valid JSON ({exc})"
        if parser is not None:
            collected.extend(_parse(parser, document, f"{source}:{number}"))
        elif strict:
            raise TraceLoadError(source, f"line {number} {problem}")
        else:
            bad.append(str(number))
    if bad:
        shown = ", ".join(bad[:10]) + (" …" if len(bad) > 10 else "")
        collected.warnings.append(f"{source}: {len(bad)} line(s) that are not trace data were skipped: {shown}")
    return collected


_FORMAT_NAMES: dict[Parser, str] = {
    otlp_json.parse_request: "OTLP/JSON traces",
    _logs_request: "OTLP/JSON logs",
    mlflow.parse_trace: "MLflow trace",
    jaeger.parse: "Jaeger JSON",
    _console_span: "ConsoleSpanExporter span",
    console.parse_log: "ConsoleLogExporter record",
    zipkin.parse_spans: "Zipkin v2 JSON",
    _each: "trace list",
}


def _first_line_document(data: bytes) -> Any:
    """The first of the first lines that is JSON (the file is then JSON Lines, with a bad line
    maybe the first), or `_NOT_PARSED`."""
    for line in data.lstrip().split(b"\n", 3)[:3]:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
    return _NOT_PARSED


def _describe(exc: orjson.JSONDecodeError, data: bytes) -> str:
    if exc.pos >= len(data.rstrip()):
        return f"truncated: the document ends at byte {len(data)} before it is complete"
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sample's end is still text
        if exc.start < len(sample) - 4:
            return False
    return not any(b < 9 or 13 < b < 32 for b in sample)
