"""The options of the commands that read the trace store (`judge`, `evaluate`, `watch`): which
store, and which of its traces (the filters `TraceQuery` has, and the quiet period that makes a
trace complete). `trace-tools collect` fills the store; these commands only read its traces.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Callable

    from trace_tools.store import TraceQuery

F = TypeVar("F", bound="Callable[..., Any]")


def store_option(command: F) -> F:
    """--store PATH_OR_URL."""
    return click.option(
        "--store",
        is_flag=False,
        flag_value="",
        metavar="PATH_OR_URL",
        help="Read traces from the trace store `trace-tools collect` fills: a SQLite file or a postgresql:// URL; "
        "--store alone (last, or before another option) reads the default store.",
    )(command)


def store_filters(command: F) -> F:
    """The store's trace filters, handed to the command as one `query` (a `TraceQuery` of
    complete traces unless --include-open)."""

    @functools.wraps(command)
    def with_query(
        *args: Any,
        service: str | None,
        root_name: str | None,
        session_id: str | None,
        min_duration: float | None,
        quiet_period: float,
        include_open: bool,
        **kwargs: Any,
    ) -> Any:
        from pydantic import ValidationError

        from trace_tools.store import TraceQuery

        try:
            query = TraceQuery(
                service=service,
                root_name=root_name,
                session_id=session_id,
                min_duration_ms=min_duration,
                quiet_s=quiet_period,
                complete=None if include_open else True,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            name = "--" + str(error["loc"][0]).replace("_", "-").removesuffix("-ms")
            raise click.BadParameter(error["msg"], param_hint=name) from None
        return command(*args, query=query, **kwargs)

    options = [
        click.option("--service", help="With --store: only traces whose root's service.name is this."),
        click.option("--root-name", help="With --store: only traces whose root span has this name."),
        click.option("--session-id", help="With --store: only traces of this session (session.id and the like)."),
        click.option(
            "--min-duration",
            type=click.FloatRange(0, 1e12),
            metavar="MS",
            help="With --store: only traces lasting at least this many milliseconds.",
        ),
        click.option(
            "--quiet-period",
            type=click.FloatRange(0, 7 * 86400),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="With --store: a trace is complete when its root span has ended and no span arrived for this long.",
        ),
        click.option(
            "--include-open", is_flag=True, help="With --store: also traces still arriving (default: complete ones)."
        ),
    ]
    wrapped: F = with_query  # type: ignore[assignment]
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def reject_store_filters(query: TraceQuery) -> None:
    """A usage error when store filters were given without --store (they would be ignored)."""
    given = query.model_dump(exclude_defaults=True, exclude={"complete"})
    if given or query.complete is None:
        raise click.UsageError(
            "--service, --root-name, --session-id, --min-duration, --quiet-period and --include-open "
            "select traces from a trace store: give --store PATH_OR_URL"
        )


def age_or_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """--since/--until: an ISO date or time (UTC if no zone), or an age before now such as 1h or 7d."""
    from datetime import UTC, datetime, timedelta

    from trace_tools.errors import InvalidArgumentError
    from trace_tools.store import parse_age

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_age(value))
    except (InvalidArgumentError, OverflowError):
        raise click.BadParameter(
            f"{value[:40]!r}: use an ISO date or time (2025-06-01, 2025-06-01T12:00:00Z) or an age (90m, 1h, 7d)"
        ) from None
