"""OTLP/JSON bodies read into protobuf messages, and responses written as OTLP/JSON.

Not `google.protobuf.json_format` for requests: OTLP/JSON departs from protobuf's JSON mapping,
writing trace and span ids as hex where json_format expects base64, so json_format would read
`"5b8e…"` as base64 and keep wrong ids without a word. The reader here walks the message
descriptors, so one function reads every OTLP request (traces, logs) as the specification has it:
ids hex (any case), other bytes base64, enums as integers (names accepted too), 64-bit integers as
strings or numbers, lowerCamelCase keys (protobuf's snake_case names accepted too, as the
Collector does), unknown keys ignored. A body nests no deeper than protobuf lets a binary one.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from functools import cache
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

#: protobuf's recursion limit when it parses binary messages: a JSON body may nest as deep, no deeper.
MAX_DEPTH = 100
#: bytes fields the specification writes as hex ("traceId and spanId fields in all OTLP messages").
_HEX_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX = re.compile(r"[0-9a-fA-F]*")
_DECIMAL = re.compile(r"-?[0-9]+")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


class JsonBodyError(ValueError):
    """A body that is not OTLP/JSON for the message: `field` is the path of the bad value
    (`resourceSpans[0].scopeSpans[0].spans[3].traceId`), empty for the body as a whole."""

    def __init__(self, problem: str, field: str = "") -> None:
        self.problem = problem
        self.field = field
        super().__init__(f"{field}: {problem}" if field else problem)

    def within(self, key: str | int) -> JsonBodyError:
        """The same error one level up: its path prefixed by the key or index it was found under."""
        step = f"[{key}]" if isinstance(key, int) else key
        joined = step + ("" if not self.field or self.field.startswith("[") else ".") + self.field
        return JsonBodyError(self.problem, joined)


def parse(data: bytes | bytearray, message: M) -> M:
    """Fill `message` from an OTLP/JSON body and return it.

    Raises:
        JsonBodyError: the body is not JSON, not an object, or a value has the wrong type or
            form for its field (the error names the field).
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonBodyError(f"the body is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise JsonBodyError(f"the body must be a JSON object, not {type(document).__name__}")
    _fill(message, document, 1)
    return message


def dumps(message: Message) -> bytes:
    """A response message as OTLP/JSON. Responses carry no ids, so protobuf's own mapping is right
    for them (64-bit counts as strings, lowerCamelCase keys, `Any` details with their `@type`)."""
    return orjson.dumps(json_format.MessageToDict(message))


def _fill(message: Message, document: dict[str, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise JsonBodyError(f"nested deeper than {MAX_DEPTH} messages")
    fields = _fields(message.DESCRIPTOR)
    for key, value in document.items():
        field = fields.get(key)
        if field is None or value is None:  # unknown keys are ignored, as the specification requires
            continue
        try:
            _set(message, field, value, depth)
        except JsonBodyError as exc:
            raise exc.within(key) from None


def _set(message: Message, field: FieldDescriptor, value: Any, depth: int) -> None:
    if field.is_repeated:
        if not isinstance(value, list):
            raise JsonBodyError(f"must be a JSON array, not {_kind(value)}")
        container = getattr(message, field.name)
        for index, item in enumerate(value):
            try:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    _fill(container.add(), _object(item), depth + 1)
                else:
                    container.append(_scalar(field, item))
            except JsonBodyError as exc:
                raise exc.within(index) from None
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        child = getattr(message, field.name)
        child.SetInParent()  # `"kvlistValue": {}` still chooses its oneof member
        _fill(child, _object(value), depth + 1)
    else:
        setattr(message, field.name, _scalar(field, value))


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if isinstance(value, str):
            return value
    elif kind == FieldDescriptor.TYPE_BOOL:
        if isinstance(value, bool):
            return value
    elif kind == FieldDescriptor.TYPE_BYTES:
        if isinstance(value, str):
            return _hex(value) if field.name in _HEX_FIELDS else _base64(value)
    elif kind in _INTEGER_TYPES:
        return _integer(field, value)
    elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float(value)
    elif kind == FieldDescriptor.TYPE_ENUM:
        return _enum(field, value)
    raise JsonBodyError(f"must be a {_expected(kind)}, not {_kind(value)}")


def _hex(value: str) -> bytes:
    # bytes.fromhex alone would also take spaces between the digits
    if len(value) % 2 or not _HEX.fullmatch(value):
        raise JsonBodyError(f"{_preview(value)} is not a hex-encoded id")
    return bytes.fromhex(value)


def _base64(value: str) -> bytes:
    # protobuf's JSON mapping takes standard or URL-safe base64, padded or not
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise JsonBodyError(f"{_preview(value)} is not base64") from exc


def _integer(field: FieldDescriptor, value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and _DECIMAL.fullmatch(value)):
        number = int(value)
    if number is None:
        raise JsonBodyError(f"must be an integer (a number or a decimal string), not {_preview(value)}")
    bits = 32 if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32) else 64
    signed = field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= number <= high:
        raise JsonBodyError(f"{number} is out of range for a {'' if signed else 'u'}int{bits}")
    return number


def _float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise JsonBodyError(f"must be a number, not {_preview(value)}")


def _enum(field: FieldDescriptor, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and -(1 << 31) <= value < (1 << 31):
        return value
    if isinstance(value, str) and (named := field.enum_type.values_by_name.get(value)) is not None:
        return int(named.number)
    raise JsonBodyError(f"must be an enum value as an integer, not {_preview(value)}")


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JsonBodyError(f"must be a JSON object, not {_kind(value)}")
    return value


@cache
def _fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by JSON name and by protobuf name."""
    fields: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        fields[field.name] = field
        fields[field.json_name] = field
    return fields


def _expected(kind: int) -> str:
    if kind == FieldDescriptor.TYPE_BOOL:
        return "JSON boolean"
    return "JSON string"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
