"""Faults on demand: injected 429/503/504 with Retry-After, the per-mailbox concurrency limit and request budget,
slow answers, and the admin HTTP API that drives them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from tests.fakes.m365 import M365Sandbox


def test_every_call_fails_with_the_configured_statuses_and_retry_after(m365_sandbox: M365Sandbox) -> None:
    path = f"/users/{m365_sandbox.mailbox}/mailFolders/inbox"
    with m365_sandbox.graph() as graph:
        m365_sandbox.state.set_faults(failure_rate=1.0, failure_statuses=[429, 503, 504], retry_after_seconds=3, seed=7)
        failed = [graph.get(path) for _ in range(30)]
        m365_sandbox.state.clear_faults()
        recovered = graph.get(path)

    assert Counter(r.status_code for r in failed).keys() == {429, 503, 504}
    assert all(r.headers["Retry-After"] == "3" for r in failed)
    assert {r.json()["error"]["code"] for r in failed if r.status_code == 503} == {"serviceNotAvailable"}
    assert recovered.status_code == 200


def test_a_failure_rate_fails_about_that_fraction(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_faults(failure_rate=0.2, seed=1)
    with m365_sandbox.graph() as graph:
        statuses = [graph.get(f"/users/{m365_sandbox.mailbox}/mailFolders/inbox").status_code for _ in range(200)]

    failures = sum(1 for s in statuses if s != 200)
    assert 20 <= failures <= 60  # 20 % of 200 with a fixed seed, well inside a binomial's spread


async def _four_then_a_fifth(m365_sandbox: M365Sandbox, token: str) -> tuple[list[httpx.Response], httpx.Response]:
    """Four calls held in flight by the sandbox's latency; the fifth is sent once all four are inside."""
    async with httpx.AsyncClient(
        base_url=m365_sandbox.base_url, verify=m365_sandbox.ssl_context(), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        path = f"/users/{m365_sandbox.mailbox}/mailFolders/inbox"
        first_four = [asyncio.create_task(client.get(path)) for _ in range(4)]
        deadline = time.monotonic() + 10
        while sum(m365_sandbox.state.in_flight.values()) < 4:
            assert time.monotonic() < deadline, "the four calls never were in flight together"
            await asyncio.sleep(0.01)
        fifth = await client.get(path)
        return list(await asyncio.gather(*first_four)), fifth


def test_the_fifth_concurrent_request_to_a_mailbox_is_throttled(m365_sandbox: M365Sandbox) -> None:
    token = m365_sandbox.app_token()
    m365_sandbox.state.set_faults(latency_seconds=1.0)

    first_four, fifth = asyncio.run(_four_then_a_fifth(m365_sandbox, token))

    assert [r.status_code for r in first_four] == [200, 200, 200, 200]
    assert m365_sandbox.state.peak_concurrency() == 4  # the throttled fifth never held a slot
    assert fifth.status_code == 429
    assert fifth.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in fifth.json()["error"]["message"]
    assert int(fifth.headers["Retry-After"]) >= 1


def test_the_request_budget_per_mailbox_throttles_until_the_window_frees(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_faults(mailbox_budget_requests=5, mailbox_budget_window_seconds=600)
    other = m365_sandbox.state.add_user("sales@contoso.onmicrosoft.com").mail
    with m365_sandbox.graph() as graph:
        statuses = [graph.get(f"/users/{m365_sandbox.mailbox}/mailFolders/inbox") for _ in range(6)]
        other_mailbox = graph.get(f"/users/{other}/mailFolders/inbox")

    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert 590 <= int(statuses[-1].headers["Retry-After"]) <= 601
    assert other_mailbox.status_code == 200  # the budget is per mailbox


def test_request_counts_per_route(m365_sandbox: M365Sandbox) -> None:
    message_id = m365_sandbox.deliver_email()
    with m365_sandbox.graph() as graph:
        graph.get(f"/users/{m365_sandbox.mailbox}/messages/{message_id}")
        graph.get(f"/users/{m365_sandbox.mailbox}/messages/{message_id}")
        graph.patch(f"/users/{m365_sandbox.mailbox}/messages/{message_id}", json={"isRead": True})

    counts = m365_sandbox.state.request_counts()
    assert counts["GET /users/{user}/messages/{message}"] == 2
    assert counts["PATCH /users/{user}/messages/{message}"] == 1
    assert m365_sandbox.state.request_total() == 3
    assert m365_sandbox.state.token_requests["client_credentials"] == 1  # one token for all three calls


def test_admin_api_delivers_injects_faults_and_reports(m365_sandbox: M365Sandbox) -> None:
    raw = b"From: a@example.com\r\nTo: support@contoso.onmicrosoft.com\r\nSubject: via admin\r\n\r\nbody\r\n"
    with httpx.Client(base_url=f"{m365_sandbox.origin}/_sandbox", verify=m365_sandbox.ssl_context()) as admin:
        delivered = admin.post("/deliver", content=raw)
        faults = admin.put("/faults", json={"fail_next": [503]})
        with m365_sandbox.graph() as graph:
            failed = graph.get(f"/users/{m365_sandbox.mailbox}/mailFolders/inbox")
        inbox = admin.get("/mailboxes/folders/inbox/messages").json()["value"]
        requests = admin.get("/requests").json()
        bad_fault = admin.put("/faults", json={"no_such_fault": 1})
        expired = admin.post("/tokens/expire")

    assert delivered.status_code == 201
    assert faults.json()["fail_next"] == [503]
    assert failed.status_code == 503
    assert [m["subject"] for m in inbox] == ["via admin"]
    assert inbox[0]["id"] == delivered.json()["id"]
    assert requests["total"] == 1
    assert requests["log"][0]["status"] == 503
    assert bad_fault.status_code == 400
    assert expired.status_code == 200
