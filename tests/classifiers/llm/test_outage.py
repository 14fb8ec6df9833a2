"""The LLM goes down for a batch: every email is still handled, by the local model, in the same processing step;
the circuit breaker stops the calls and closes again by itself once the LLM is back."""

from __future__ import annotations

import asyncio
import time

from emailbot.classifiers.llm.breaker import CLOSED, HALF_OPEN, OPEN
from emailbot.classifiers.llm.factory import llm_part
from emailbot.ops.alerts import Alert
from tests.classifiers.llm.conftest import BuildRuntime, deliver, process_all, stored
from tests.factories import rfc822
from tests.fakes.openai_server import FakeOpenAI

SUBJECTS = [
    ("VPN keeps dropping", "My VPN disconnects every ten minutes since the update."),
    ("Quote for 5 monitors", "Could you send us a quote for five 27 inch monitors?"),
    ("Printer jam again", "The printer on floor 2 has a paper jam and shows an error."),
    ("Holiday schedule", "When is the service desk closed over the holidays?"),
    ("Password reset", "I cannot log in, please reset my password."),
    ("Architecture advice", "We would like advice on planning our new file server architecture."),
]


class RecordingAlerts:
    def __init__(self) -> None:
        self.raised: list[Alert] = []

    async def raise_alert(self, alert: Alert) -> None:
        self.raised.append(alert)


async def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_outage_batch_is_handled_by_the_local_model_and_the_breaker_recovers(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    runtime = make_llm_runtime(llm_breaker_failures=2, llm_breaker_reset_seconds=60, llm_concurrency=1)
    llm = llm_part(runtime.classifier)
    assert llm is not None
    breaker = llm.guards.breaker
    alerts = RecordingAlerts()
    llm.bind_alerts(alerts)
    openai_server.down = True
    for n, (subject, body) in enumerate(SUBJECTS):
        deliver(runtime, f"{n}.eml", rfc822(subject, body, sender=f"user{n}@customer.example"))
    await process_all(runtime)

    rows = await stored(runtime)
    assert len(rows) == len(SUBJECTS)
    assert {result.status for _, result, _ in rows} == {"completed"}
    assert {c.classifier for _, _, c in rows} == {"local"}
    assert all(result.attempts == 1 for _, result, _ in rows)  # the same step, not a retry later
    assert all("LLM" in c.reasoning for _, _, c in rows)
    assert breaker.state == OPEN
    assert len(openai_server.requests) == 2  # the breaker opened after two failures: no more timeouts to wait for
    assert [(a.component, a.severity) for a in alerts.raised] == [("llm_service", "warning")]

    openai_server.down = False
    breaker.reset_seconds = 0.2  # long enough not to half-open during the outage batch on a slow machine; now short
    await _wait_for(lambda: breaker.state == HALF_OPEN)
    deliver(runtime, "after-1.eml", rfc822("Printer error", "The printer shows error 49.", sender="a@customer.example"))
    await process_all(runtime)
    assert breaker.state == CLOSED
    deliver(runtime, "after-2.eml", rfc822("Quote please", "Quote for 2 laptops.", sender="b@customer.example"))
    await process_all(runtime)
    latest = (await stored(runtime))[-2:]
    assert [c.classifier for _, _, c in latest] == ["llm", "llm"]
    assert {result.status for _, result, _ in await stored(runtime)} == {"completed"}
