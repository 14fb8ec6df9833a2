"""Security events from the audit log and the stored mail, and the critical ones raised as alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import select

from emailbot.analytics.daily import midnight
from emailbot.ops.monitor import run_monitoring_cycle
from emailbot.runtime import Runtime, build_runtime
from emailbot.store import crypto
from emailbot.store.db import Database
from emailbot.store.tables import AlertRow, utcnow
from tests.api_clients import admin_client
from tests.ops_data import add_audit, store, stored_email
from tests.runtime_fixtures import settings_for

KEY = Fernet.generate_key().decode()


def failed_auth(at: datetime, client: str = "198.51.100.7", key: str = "eb_live_3f") -> dict[str, Any]:
    return {
        "at": at,
        "actor": key,
        "action": "auth.failed",
        "target": "",
        "details": {"client": client, "path": "/emails", "reason": "unknown key"},
    }


def access(at: datetime, client: str) -> dict[str, Any]:
    return {
        "at": at,
        "actor": "eb_live_ab",
        "action": "api.request",
        "target": "/emails",
        "details": {"client": client, "path": "/emails", "status": 200},
    }


async def _events(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/security/events")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_more_than_ten_failed_logins_an_hour_warn(runtime: Runtime, client: httpx.AsyncClient) -> None:
    now = utcnow()
    await add_audit(runtime.db, [failed_auth(now - timedelta(minutes=n)) for n in range(10)])
    await add_audit(runtime.db, [failed_auth(now - timedelta(hours=2))])  # outside the hour
    body = await _events(client)
    assert body["failed_authentication"]["count"] == 10
    assert not [e for e in body["events"] if e["type"] == "authentication"]

    await add_audit(runtime.db, [failed_auth(now - timedelta(minutes=1), client="203.0.113.50", key="anonymous")])
    body = await _events(client)
    [event] = [e for e in body["events"] if e["type"] == "authentication"]
    assert event["severity"] == "WARNING"
    assert event["message"] == "High number of failed auth attempts: 11"
    assert event["details"]["by_client"] == {"198.51.100.7": 10, "203.0.113.50": 1}
    assert event["details"]["by_key"] == {"eb_live_3f": 10, "anonymous": 1}


def _last(hour: int, now: datetime) -> datetime:
    """The most recent past moment at this hour of the day (UTC)."""
    candidate = midnight(now.date()) + timedelta(hours=hour)
    return candidate if candidate < now else candidate - timedelta(days=1)


async def test_unusual_access_new_client_burst_and_off_hours(runtime: Runtime, client: httpx.AsyncClient) -> None:
    now = utcnow()
    minute = (now - timedelta(minutes=30)).replace(second=0, microsecond=0)
    await add_audit(
        runtime.db,
        [access(now - timedelta(days=5), "10.0.0.1")]  # the known client
        + [access(minute + timedelta(milliseconds=10 * n), "10.0.0.1") for n in range(130)]  # a burst
        + [access(_last(3, now), "203.0.113.9")],  # a new client, at 03:00 UTC
    )
    body = await _events(client)
    anomalies = body["access_patterns"]["anomalies"]
    kinds = {(a["kind"], a["client"]) for a in anomalies}
    assert ("new_client", "203.0.113.9") in kinds
    assert ("new_client", "10.0.0.1") not in kinds
    assert ("burst", "10.0.0.1") in kinds
    assert ("off_hours", "203.0.113.9") in kinds
    burst = next(a for a in anomalies if a["kind"] == "burst")
    assert burst["requests"] == 130
    access_events = [e for e in body["events"] if e["type"] == "access_pattern"]
    assert len(access_events) == len(anomalies)
    assert all(
        e["severity"] == "INFO" and e["message"].startswith("Unusual access pattern detected: ") for e in access_events
    )


async def test_plaintext_bodies_with_a_key_configured_are_critical_and_alert(tmp_path: Path, database_url: str) -> None:
    # Mail stored before the key was configured stays plaintext on disk; mail stored afterwards is encrypted.
    crypto.configure_from_secret(None)
    before = Database(database_url)
    await store(before, [stored_email(utcnow(), body="plain text")])
    await before.dispose()
    runtime = build_runtime(settings_for(tmp_path, database_url, encryption_key=KEY))
    await store(runtime.db, [stored_email(utcnow(), body="sealed on the way in")])
    async with admin_client(runtime) as client:
        body = await _events(client)
    [event] = [e for e in body["events"] if e["type"] == "encryption"]
    assert event["severity"] == "CRITICAL"
    assert event["details"] == {"encryption_configured": True, "sampled": 2, "unencrypted": 1, "all_encrypted": False}

    await run_monitoring_cycle(runtime)
    async with runtime.db.transaction() as session:
        alerts = list(await session.scalars(select(AlertRow).where(AlertRow.component == "Security")))
    await runtime.close()
    assert [(a.severity, a.message) for a in alerts] == [("critical", "Unencrypted sensitive data detected")]


async def test_encrypted_bodies_raise_nothing(tmp_path: Path, database_url: str) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url, encryption_key=KEY))
    await store(runtime.db, [stored_email(utcnow(), body=f"body {n}") for n in range(3)])
    async with admin_client(runtime) as client:
        body = await _events(client)
    await runtime.close()
    assert body["encryption"]["all_encrypted"] is True
    assert not [e for e in body["events"] if e["type"] == "encryption"]


async def test_without_a_key_the_plain_storage_is_reported_not_critical(client: httpx.AsyncClient) -> None:
    body = await _events(client)
    [event] = [e for e in body["events"] if e["type"] == "encryption"]
    assert event["severity"] == "INFO"
    assert "EMAILBOT_ENCRYPTION_KEY" in event["message"]
