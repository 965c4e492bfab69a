"""Sessions: the traces of one multi-turn conversation, grouped by the id conventions carry.

A chat agent records one trace per turn; the conversation ties them together by an id on a span,
the resource or the trace's metadata: OpenTelemetry's and Langfuse's `session.id`, the GenAI
semantic conventions' `gen_ai.conversation.id`, MLflow's `mlflow.trace.session` metadata. A judge
of the conversation needs the turns in order (what the user asked, what the agent answered), so
a question two turns back explains a short "Yes".

The conversation is trace content: each turn is read through a `TraceIndex` (redacted as the
tools redact) and cut, and a long conversation keeps its first and last turns within a budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trace_tools.bounds import cut
from trace_tools.errors import TraceSelectionError
from trace_tools.model import Trace
from trace_tools.selection import SHOWN_IDS
from trace_tools.text import as_text, iso_time, safe

if TYPE_CHECKING:  # index.py reads the session keys from here
    from trace_tools.index import TraceIndex

#: Attributes that name a conversation (OpenTelemetry and Langfuse, GenAI semconv, MLflow), in the
#: order they are looked for.
SESSION_KEYS = ("session.id", "gen_ai.conversation.id", "mlflow.trace.session")
USER_KEYS = ("user.id", "mlflow.trace.user")
#: One turn's user input or agent output, as the conversation shows it.
MAX_TURN_CHARS = 2_000
#: The whole conversation: about 12k tokens, within the smallest window judges run on.
MAX_CONVERSATION_CHARS = 36_000
#: Traces one session may hold; a longer one is judged on its first ones, with a note.
MAX_SESSION_TRACES = 1_000


def named_id(trace: Trace, keys: Iterable[str]) -> str | None:
    """The first id under `keys` the trace carries: in its metadata, on its root, on any span (tree
    order), then on a root's resource (where a producer put it once for the process)."""
    sources: list[Mapping[str, Any]] = [trace.metadata, *(span.attributes for span in trace.spans)]
    sources += [span.resource for span in trace.roots]
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value is not None and value != "":
                return str(value)
    return None


def session_id(trace: Trace) -> str | None:
    """The conversation a trace belongs to, or None."""
    return named_id(trace, SESSION_KEYS)


@dataclass(frozen=True, slots=True)
class Session:
    """One conversation: its id and its traces in the order they started (one per turn)."""

    session_id: str
    traces: tuple[Trace, ...]
    #: traces of the session left out beyond `MAX_SESSION_TRACES`
    dropped: int = 0

    @property
    def start_ns(self) -> int:
        return self.traces[0].start_ns

    @property
    def sources(self) -> str:
        """The files the session's traces came from, each once."""
        return ", ".join(dict.fromkeys(trace.source for trace in self.traces))


def group_sessions(traces: Iterable[Trace]) -> tuple[list[Session], list[Trace]]:
    """The sessions among `traces` (ordered by their first turn) and the traces that name none."""
    grouped: dict[str, list[Trace]] = {}
    alone: list[Trace] = []
    for trace in traces:
        sid = session_id(trace)
        if sid is None:
            alone.append(trace)
        else:
            grouped.setdefault(sid, []).append(trace)
    sessions = [_session(sid, members) for sid, members in grouped.items()]
    return sorted(sessions, key=lambda s: (s.start_ns, s.session_id)), alone


def select_session(traces: Iterable[Trace], wanted: str, source: str) -> Session:
    """The session `wanted` names among `traces` (`source` names them in the error).

    Raises:
        TraceSelectionError: no trace carries that session id (the message lists some that do).
    """
    sessions, _ = group_sessions(traces)
    for session in sessions:
        if session.session_id == wanted:
            return session
    if not sessions:
        raise TraceSelectionError(
            f"no session {quoted_id(wanted)} in {source}: its traces carry no session id ({', '.join(SESSION_KEYS)})"
        )
    known = ", ".join(quoted_id(s.session_id) for s in sessions[:SHOWN_IDS])
    more = f" and {len(sessions) - SHOWN_IDS} more" if len(sessions) > SHOWN_IDS else ""
    raise TraceSelectionError(f"no session {quoted_id(wanted)} in {source}; its sessions: {known}{more}")


def quoted_id(text: str) -> str:
    """A session id in a one-line message or log line (ids are trace content: bounded, no terminal control)."""
    return repr(safe(cut(text, 80), keep_newlines=False))


def _session(sid: str, traces: list[Trace]) -> Session:
    ordered = sorted(traces, key=lambda t: (t.start_ns, t.trace_id))
    return Session(sid, tuple(ordered[:MAX_SESSION_TRACES]), max(0, len(ordered) - MAX_SESSION_TRACES))


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a conversation, as the judge reads it (redacted and cut)."""

    trace_id: str
    start_time: str
    user: str | None
    agent: str | None


def turns(indexes: Iterable[TraceIndex]) -> list[Turn]:
    """The turns of the traces, in the order given: each root's input (the last user message when it
    holds a chat history) and output (the last assistant message), redacted by its index."""
    result = []
    for index in indexes:
        root = index.trace.root
        user = _last_message(index.show(root.inputs_key, root.inputs), "user")
        agent = _last_message(index.show(root.outputs_key, root.outputs), "assistant")
        result.append(Turn(index.trace.trace_id, iso_time(index.trace.start_ns), _shown(user), _shown(agent)))
    return result


def conversation(turns: list[Turn], dropped: int = 0, budget: int = MAX_CONVERSATION_CHARS) -> str:
    """The turns as text for a judge: numbered, with their trace ids. Beyond `budget` characters the
    first and the last turns are kept (where facts are given and where the user ends up) and the
    middle ones are counted; `dropped` traces past the session's bound are counted too."""
    written = [_turn_text(number, turn) for number, turn in enumerate(turns, 1)]
    head: list[str] = []
    tail: list[str] = []
    size = 0
    low, high = 0, len(written) - 1
    while low <= high:
        take_head = len(head) <= len(tail)
        text = written[low] if take_head else written[high]
        if size + len(text) > budget:
            break
        size += len(text)
        if take_head:
            head.append(text)
            low += 1
        else:
            tail.append(text)
            high -= 1
    omitted = len(written) - len(head) - len(tail)
    parts = head
    if omitted:
        parts = [*head, f"({omitted} turns omitted here: read them with the tools, by trace id)"]
    parts = [*parts, *reversed(tail)]
    if dropped:
        parts.append(f"({dropped} later turns beyond {MAX_SESSION_TRACES} are not shown)")
    return "\n\n".join(parts)


def _turn_text(number: int, turn: Turn) -> str:
    user = turn.user if turn.user is not None else "(no input recorded)"
    agent = turn.agent if turn.agent is not None else "(no output recorded)"
    return f"Turn {number} (trace {turn.trace_id}, {turn.start_time})\nUser: {user}\nAgent: {agent}"


def _last_message(value: Any, role: str) -> Any:
    """A chat history's last message from `role` (its text), or the value as it is.

    Producers record a turn's input as the whole history sent to the model (OpenAI-style
    `{role, content}` messages or GenAI semconv `{role, parts}`); the turn is its last message.
    """
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return value
    for message in reversed(messages):
        if message.get("role") == role:
            return _message_text(message)
    return value


def _message_text(message: Mapping[str, Any]) -> Any:
    content = message.get("content")
    if content is not None:
        return content
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        if texts:
            return "\n".join(as_text(t) for t in texts)
    return dict(message)


def _shown(value: Any) -> str | None:
    return None if value is None else cut(as_text(value), MAX_TURN_CHARS)
