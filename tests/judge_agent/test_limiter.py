"""The adaptive limiter: halving on throttles, climbing back on successes, first come first served.

Driven by the limiter's own state (no sleeps): each step waits, with a bound, for the state it needs.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from anyio.lowlevel import checkpoint

from judge_agent import limiter as limiter_module
from judge_agent.limiter import AdaptiveLimiter


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (failing after 5 s)."""
    with anyio.fail_after(5):
        while not condition():
            await checkpoint()


@pytest.mark.anyio
async def test_the_limit_halves_on_throttling_and_climbs_back_on_success() -> None:
    limiter = AdaptiveLimiter(8)
    await limiter.throttled()
    await limiter.throttled()
    assert (limiter.limit, limiter.throttles) == (2, 2)
    for _ in range(2 + 3):  # a run of `limit` successes raises the limit by one: 2 -> 3 after 2, 3 -> 4 after 3
        await limiter.succeeded()
    assert limiter.limit == 4
    for _ in range(100):
        await limiter.succeeded()
    assert limiter.limit == 8  # never above the requested concurrency


@pytest.mark.anyio
async def test_the_wait_after_a_throttle_doubles_and_a_success_resets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter_module, "BACKOFF_S", 1.0)
    limiter = AdaptiveLimiter(4)
    assert [await limiter.throttled() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert limiter.limit == 1
    await limiter.succeeded()
    assert await limiter.throttled() == 1


@pytest.mark.anyio
async def test_a_lower_limit_holds_back_new_slots_until_enough_are_released() -> None:
    limiter = AdaptiveLimiter(2)
    entered: list[str] = []
    release = anyio.Event()

    async def hold(name: str) -> None:
        async with limiter.slot():
            entered.append(name)
            await release.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(hold, "a")
        group.start_soon(hold, "b")
        await until(lambda: len(entered) == 2)
        await limiter.throttled()  # limit 1 with two in flight
        group.start_soon(hold, "c")
        await until(lambda: limiter.waiting == 1)
        assert entered == ["a", "b"]
        release.set()
    assert entered == ["a", "b", "c"]


@pytest.mark.anyio
async def test_waiters_are_served_in_order() -> None:
    limiter = AdaptiveLimiter(1)
    order: list[str] = []
    finished = 0

    async def worker(name: str) -> None:
        nonlocal finished
        for _ in range(3):
            async with limiter.slot():
                order.append(name)
                # hold the slot until every other unfinished worker is queued behind it
                await until(lambda: limiter.waiting == 3 - finished - 1)
        finished += 1

    async with anyio.create_task_group() as group:
        for name in "abc":
            group.start_soon(worker, name)
    assert order == list("abcabcabc")  # a worker that just released its slot queues behind the others
