"""A server for a client that only calls tools (a judge's in-process session): no resources."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from tests.trace_tools.helpers import store_of
from trace_tools.model import Trace
from trace_tools.server import build_server


@pytest.mark.anyio
async def test_a_server_without_resources_offers_the_same_tools_and_no_resources(sample: Trace) -> None:
    store = store_of(sample)
    with anyio.fail_after(20):
        async with Client(build_server(store)) as full, Client(build_server(store, resources=False)) as lean:
            assert (await lean.list_tools()).tools == (await full.list_tools()).tools
            assert (await lean.list_resources()).resources == []
            assert (await lean.list_resource_templates()).resource_templates == []
            assert len((await full.list_resources()).resources) == 1
            answer = await lean.call_tool("GetTraceInfo", {})
    (content,) = answer.content
    assert isinstance(content, TextContent) and json.loads(content.text)["trace_id"] == sample.trace_id
