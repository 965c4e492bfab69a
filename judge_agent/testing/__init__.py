"""Test doubles for judges and pipelines built on judge_agent: no model, no network.

- `ScriptedProvider` replays scripted model turns in-process and records every request in
  `.history` (fast tests of a judge's prompt, its tools and its verdict handling)::

      from judge_agent import make_judge
      from judge_agent.testing import ScriptedProvider, call, verdict

      provider = ScriptedProvider([call("GetTraceInfo"), verdict("good", cited=["a1b2c3d4e5f60718"])])
      judge = make_judge("quality", "Rate {{ trace }}", model=provider, feedback_value_type=str)
      feedback = judge("run.jsonl")

- `FakeTools` (of `FakeTool`s) stands in for the MCP toolbox in tests of the agent loop itself
  (`judge_agent.loop.run_agent`): tools that answer from a string or a function.

- `ScriptedModelServer` is a real HTTP server on 127.0.0.1 speaking the OpenAI Chat Completions
  and Anthropic Messages wire formats, so the real `openai`/`anthropic` SDK code paths run
  (retries, error classes) against scripted `reply(...)`, `tool_calls(...)`, `error(...)` and `raw(...)` bodies.
"""

from judge_agent.testing.model_server import (
    Raw,
    ReceivedRequest,
    Reply,
    ScriptedModelServer,
    error,
    raw,
    reply,
    tool_calls,
)
from judge_agent.testing.scripted import Request, ScriptedProvider, call, calls, text, verdict
from judge_agent.testing.tools import FakeTool, FakeTools

__all__ = [
    "FakeTool",
    "FakeTools",
    "Raw",
    "ReceivedRequest",
    "Reply",
    "Request",
    "ScriptedModelServer",
    "ScriptedProvider",
    "call",
    "calls",
    "error",
    "raw",
    "reply",
    "text",
    "tool_calls",
    "verdict",
]
