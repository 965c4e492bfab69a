"""PLACEHOLDER: OTLP protobuf (being written)."""

from trace_tools.loaders.common import Collected


def parse_binary(data: bytes, source: str) -> Collected:
    raise NotImplementedError
