"""Jobs on the engine's schedule: they run after their first delay and then every interval, and a failing round is
logged and retried without touching the mail engine's own error state."""

from __future__ import annotations

import asyncio
import time

from emailbot.runtime import Runtime


async def _until(condition: object, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met before the deadline"
        await asyncio.sleep(0.01)


async def test_a_failing_round_is_retried_and_is_not_the_engines_error(runtime: Runtime) -> None:
    rounds: list[float] = []

    async def flaky() -> None:
        rounds.append(time.monotonic())
        if len(rounds) == 1:
            raise RuntimeError("first round fails")

    started = time.monotonic()
    runtime.engine.add_periodic("flaky job", 0.02, flaky, first_after=0.2)
    runtime.engine.start()
    try:
        await _until(lambda: len(rounds) >= 3)
        assert runtime.engine.last_error is None
        assert runtime.engine.running
    finally:
        await runtime.engine.stop()
    assert rounds[0] - started >= 0.2
