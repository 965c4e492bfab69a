"""Page tokens: where the next page of ListSpans or ListTraces starts, bound to what was asked.

A token is the position of the next row, tagged with a `scope` (a digest of the trace and the
filters, or "traces"). A token carried over to another trace or other filters would silently
start at a wrong row, so reading it under a different scope is an error the model can act on.
Tokens are opaque to callers, not secret: they carry no state the server keeps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import orjson

from trace_tools.errors import InvalidArgumentError


def scope_of(*request: object) -> str:
    """A short digest of the values a page depends on (the trace id and the filters)."""
    return hashlib.sha256(orjson.dumps(request)).hexdigest()[:12]


def make_token(scope: str, position: int) -> str:
    """The token that resumes at `position` of the rows `scope` names."""
    return base64.urlsafe_b64encode(f"{scope}:{position}".encode()).decode()


def read_token(token: str | None, scope: str) -> int:
    """Where a page starts: 0 without a token, else the position the token carries.

    Raises:
        InvalidArgumentError: a token this server did not issue, or one issued for another
            trace or other filters (the message says to repeat the call or start over).
    """
    if not token:
        return 0
    try:
        token_scope, _, position = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        start = int(position)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgumentError(
            "page_token is not one this server issued; omit it to start from the first page"
        ) from None
    if token_scope != scope or start < 0:
        raise InvalidArgumentError(
            "page_token was issued for a different trace or different filters; "
            "repeat the call with the same filters, or omit page_token to start over"
        )
    return start
