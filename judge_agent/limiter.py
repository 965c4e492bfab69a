"""The adaptive concurrency limit of batch runs: back off when the provider throttles, creep back up.

On a rate limit (HTTP 429 after the SDK's own retries) the limit halves and the throttled item
waits before it is tried again, each further throttle doubling the wait; each run of successes
as long as the limit raises it by one, back up to the requested concurrency. Slots are granted
first come, first served, so a worker that just released one cannot starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

logger = logging.getLogger("judge_agent.limiter")

#: The first wait after a rate limit (seconds); it doubles on each further throttle, up to MAX_BACKOFF_S.
BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class AdaptiveLimiter:
    """At most `limit` judgments in flight; the limit halves on a rate limit and creeps back up on success.

    `maximum` is the requested concurrency, which the limit never exceeds.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.throttles = 0
        self._in_flight = 0
        self._issued = 0
        self._next = 0
        self._successes = 0
        self._first_backoff = BACKOFF_S  # read here, not at import: tests shorten it
        self._backoff = BACKOFF_S
        self._changed = asyncio.Condition()

    @property
    def waiting(self) -> int:
        """Callers of `slot` still queued for one."""
        return self._issued - self._next

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot, first come first served (a worker that just released one must not jump the queue)."""
        async with self._changed:
            ticket, self._issued = self._issued, self._issued + 1
            await self._changed.wait_for(lambda: self._in_flight < self.limit and self._next == ticket)
            self._next += 1
            self._in_flight += 1
            self._changed.notify_all()  # the next ticket may fit too
        try:
            yield
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    async def throttled(self) -> float:
        """Record a rate limit; returns how long the throttled item should wait before its next try."""
        async with self._changed:
            self.throttles += 1
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            wait, self._backoff = self._backoff, min(self._backoff * 2, MAX_BACKOFF_S)
        logger.info("rate limited: concurrency now %d, waiting %.1f s", self.limit, wait)
        return wait

    async def succeeded(self) -> None:
        """Record a verdict: resets the back-off, and after `limit` successes in a row raises the limit by one."""
        async with self._changed:
            self._backoff = self._first_backoff
            self._successes += 1
            if self.limit < self.maximum and self._successes >= self.limit:
                self.limit += 1
                self._successes = 0
                self._changed.notify_all()
