"""Escalation tracking: follow-ups in the same thread, the API (list, detail, resolve), SLA status and alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from emailbot.escalations.sla import SlaMonitor, SlaPolicy
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import EscalationRow, SideEffectRow, utcnow
from tests.api_clients import admin_client
from tests.escalations.helpers import deliver_and_process, escalate_outage, escalations, result_of
from tests.factories import rfc822
from tests.fakes.alerts import RecordingAlertSink
from tests.runtime_fixtures import settings_for


@pytest.fixture
async def tracked(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    settings = settings_for(
        tmp_path, database_url, escalation_sla_minutes={"CRITICAL": 60, "HIGH": 120}, escalation_sla_at_risk=0.8
    )
    runtime = build_runtime(settings)
    runtime.alerts = RecordingAlertSink()
    yield runtime
    await runtime.close()


@pytest.fixture
async def api(tracked: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(tracked) as client:
        yield client


async def _age(runtime: Runtime, escalation_id: int, minutes: float) -> None:
    async with runtime.db.transaction() as session:
        await session.execute(
            update(EscalationRow)
            .where(EscalationRow.id == escalation_id)
            .values(created_at=utcnow() - timedelta(minutes=minutes))
        )


async def test_a_follow_up_in_the_thread_joins_the_escalation(tracked: Runtime) -> None:
    first = await escalate_outage(tracked)
    original, _ = await result_of(tracked, "Production database is down")
    reply = rfc822(
        "Re: Production database is down",
        "Thanks. Small update: it seems to be back for some users, printers are fine.",
        headers={"In-Reply-To": original.message_id or "", "References": original.message_id or ""},
    )
    await deliver_and_process(tracked, "2.a", reply)
    _, follow_up = await result_of(tracked, "Re: Production database is down")
    assert (follow_up.action, follow_up.escalation_id) == ("ESCALATE", first.id)
    assert follow_up.reason == f"follow-up in escalation {first.id}"
    [only] = await escalations(tracked)
    assert only.follow_ups == 1
    async with tracked.db.sessions() as session:
        keys = set(await session.scalars(select(SideEffectRow.idempotency_key).where(SideEffectRow.kind == "notify")))
    assert keys == {f"notify:{first.id}", f"notify:{first.id}:email:{follow_up.email_id}"}


async def test_a_reply_after_resolution_is_routed_on_its_own(tracked: Runtime, api: httpx.AsyncClient) -> None:
    first = await escalate_outage(tracked)
    original, _ = await result_of(tracked, "Production database is down")
    assert (await api.post(f"/escalations/{first.id}/resolve", json={"notes": "Restarted the cluster."})).is_success
    reply = rfc822(
        "Re: Production database is down",
        "Thank you, all good now. How do I reset my password?",
        headers={"In-Reply-To": original.message_id or ""},
    )
    await deliver_and_process(tracked, "2.a", reply)
    _, later = await result_of(tracked, "Re: Production database is down")
    assert later.escalation_id != first.id
    assert not (later.reason or "").startswith("follow-up")


async def test_an_automatic_reply_in_the_thread_does_not_join(tracked: Runtime) -> None:
    first = await escalate_outage(tracked)
    original, _ = await result_of(tracked, "Production database is down")
    ooo = rfc822(
        "Automatic reply: Production database is down",
        "I am out of the office until Monday.",
        headers={"In-Reply-To": original.message_id or "", "Auto-Submitted": "auto-replied"},
    )
    await deliver_and_process(tracked, "2.a", ooo)
    _, auto = await result_of(tracked, "Automatic reply: Production database is down")
    assert (auto.action, auto.escalation_id) == ("HUMAN_REVIEW", None)
    assert auto.reason == f"automatic message in the thread of escalation {first.id}"
    assert [e.follow_ups for e in await escalations(tracked)] == [0]


async def test_list_filter_page_and_detail(tracked: Runtime, api: httpx.AsyncClient) -> None:
    first = await escalate_outage(tracked, "1.a", "Production database is down")
    second = await escalate_outage(tracked, "2.a", "Mail server outage for everyone")
    third = await escalate_outage(tracked, "3.a", "VPN outage in the whole building")
    await api.post(f"/escalations/{first.id}/resolve", json={"notes": "fixed"})

    active = (await api.get("/escalations")).json()
    assert [item["id"] for item in active["items"]] == [third.id, second.id]
    everything = (await api.get("/escalations", params={"status": "all", "page_size": 2, "page": 2})).json()
    assert (everything["total"], [item["id"] for item in everything["items"]]) == (3, [first.id])
    resolved = (await api.get("/escalations", params={"status": "resolved"})).json()["items"]
    assert [(item["id"], item["resolution_notes"]) for item in resolved] == [(first.id, "fixed")]
    by_category = (await api.get("/escalations", params={"status": "all", "category": "purchasing"})).json()
    assert by_category["total"] == 0
    bad = await api.get("/escalations", params={"status": "open"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")

    detail = (await api.get(f"/escalations/{second.id}")).json()
    assert detail["name"] == second.name
    assert detail["email_subject"] == "Mail server outage for everyone"
    assert detail["members"] == second.members
    assert detail["summary"]
    assert detail["chat_id"] is None
    assert [e["id"] for e in detail["emails"]] == [second.email_id]
    assert [d["target"] for d in detail["deliveries"]] == []  # only the log notifier: nothing to record
    missing = await api.get("/escalations/999999")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_resolve_records_notes_and_conflicts_once_resolved(tracked: Runtime, api: httpx.AsyncClient) -> None:
    escalation = await escalate_outage(tracked)
    empty = await api.post(f"/escalations/{escalation.id}/resolve", json={"notes": ""})
    assert empty.status_code == 422
    done = await api.post(f"/escalations/{escalation.id}/resolve", json={"notes": "Failed over to the replica."})
    body = done.json()
    assert (done.status_code, body["status"], body["resolution_notes"]) == (
        200,
        "resolved",
        "Failed over to the replica.",
    )
    assert body["resolved_at"] is not None
    again = await api.post(f"/escalations/{escalation.id}/resolve", json={"notes": "again"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    missing = await api.post("/escalations/424242/resolve", json={"notes": "x"})
    assert missing.status_code == 404


async def test_sla_status_moves_with_time_and_resolution(tracked: Runtime, api: httpx.AsyncClient) -> None:
    escalation = await escalate_outage(tracked)
    assert escalation.urgency == "CRITICAL"  # target 60 minutes in this fixture, at risk from 48

    async def sla() -> tuple[str, float]:
        body = (await api.get(f"/escalations/{escalation.id}")).json()
        return body["sla_status"], body["sla_target_minutes"]

    assert await sla() == ("within_target", 60)
    await _age(tracked, escalation.id, 50)
    assert await sla() == ("at_risk", 60)
    await api.post(f"/escalations/{escalation.id}/resolve", json={"notes": "done in time"})
    assert await sla() == ("within_target", 60)


async def test_a_breach_raises_one_alert(tracked: Runtime, api: httpx.AsyncClient) -> None:
    late = await escalate_outage(tracked, "1.a")
    fresh = await escalate_outage(tracked, "2.a", "Mail server outage for everyone")
    await _age(tracked, late.id, 61)
    monitor = SlaMonitor(tracked.db, SlaPolicy.from_settings(tracked.settings), lambda: tracked.alerts)
    assert await monitor.check_once() == 1
    assert await monitor.check_once() == 0  # once per escalation
    alerts = tracked.alerts.alerts  # type: ignore[attr-defined]
    assert [(a.component, a.details["escalation_id"], a.severity) for a in alerts] == [
        ("escalations", late.id, "critical")
    ]
    assert (await api.get(f"/escalations/{late.id}")).json()["sla_status"] == "breached"
    assert (await api.get(f"/escalations/{fresh.id}")).json()["sla_status"] == "within_target"
    await api.post(f"/escalations/{late.id}/resolve", json={"notes": "late"})
    assert (await api.get(f"/escalations/{late.id}")).json()["sla_status"] == "breached"


async def test_the_engine_runs_the_sla_check(tmp_path: Path, database_url: str) -> None:
    settings = settings_for(tmp_path, database_url, escalation_sla_check_seconds=0.05, poll_interval_seconds=0.05)
    runtime = build_runtime(settings)
    sink = RecordingAlertSink()
    runtime.alerts = sink
    try:
        escalation = await escalate_outage(runtime)
        await _age(runtime, escalation.id, 24 * 60)
        runtime.engine.start()
        await _poll(lambda: bool(sink.alerts))
        assert sink.alerts[0].details["escalation_id"] == escalation.id
    finally:
        await runtime.close()


async def _poll(condition: object, deadline: float = 10.0) -> None:
    import asyncio
    import time

    end = time.monotonic() + deadline
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)
