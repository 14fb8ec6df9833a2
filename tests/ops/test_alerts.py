"""The alert sink: stored, delivered over real HTTP to a loopback webhook, cooled down per condition."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from emailbot.ops.alerts import Alert, StoredAlertSink
from emailbot.runtime import build_runtime
from emailbot.store.db import Database
from emailbot.store.tables import AlertRow, utcnow
from tests.api_clients import admin_client
from tests.fakes.webhooks import JsonEndpoint
from tests.ops_data import eventually
from tests.runtime_fixtures import settings_for


async def _rows(db: Database) -> list[AlertRow]:
    async with db.transaction() as session:
        return list(await session.scalars(select(AlertRow).order_by(AlertRow.id)))


async def _delivered(db: Database, count: int) -> list[AlertRow]:
    rows = await _rows(db)
    return rows if len(rows) >= count and all(row.delivery_status != "pending" for row in rows) else []


async def test_alert_is_stored_and_posted_to_the_webhook(db: Database, webhook: JsonEndpoint) -> None:
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    await sink.raise_alert(Alert("critical", "Processing", "Low success rate: 50.00%", {"failed": 5}))

    rows = await eventually(lambda: _delivered(db, 1), what="the delivery to be recorded")
    assert rows[0].delivery_status == "delivered"
    assert rows[0].severity == "critical"
    assert rows[0].details == {"failed": 5}
    [body] = webhook.received
    assert body["severity"] == "CRITICAL"
    assert body["component"] == "Processing"
    assert body["message"] == "Low success rate: 50.00%"
    assert body["details"] == {"failed": 5}
    assert body["id"] == rows[0].id


async def test_a_repeat_within_the_cooldown_is_counted_not_sent(db: Database, webhook: JsonEndpoint) -> None:
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    first = Alert("warning", "Processing Queue", "Queue size is high: 1200", condition="queue_size")
    repeat = Alert("warning", "Processing Queue", "Queue size is high: 1350", condition="queue_size")
    other = Alert("warning", "Resources", "High disk usage: 95.0%", condition="disk")
    for alert in (first, repeat, other):
        await sink.raise_alert(alert)
    await sink.close()

    rows = await _rows(db)
    assert [(row.component, row.occurrences) for row in rows] == [("Processing Queue", 2), ("Resources", 1)]
    assert sorted(body["component"] for body in webhook.received) == ["Processing Queue", "Resources"]


async def test_after_the_cooldown_the_alert_is_sent_again(db: Database, webhook: JsonEndpoint) -> None:
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    alert = Alert("critical", "database", "database is unhealthy")
    await sink.raise_alert(alert)
    await sink.close()
    async with db.transaction() as session:  # the first one was sent 301 seconds ago
        await session.execute(update(AlertRow).values(created_at=utcnow() - timedelta(seconds=301)))
    await sink.raise_alert(alert)
    await sink.close()

    assert len(await _rows(db)) == 2
    assert len(webhook.received) == 2


async def test_a_resolved_alert_does_not_hold_back_its_return(db: Database, webhook: JsonEndpoint) -> None:
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    alert = Alert("warning", "mailbox", "mailbox is degraded")
    await sink.raise_alert(alert)
    async with db.transaction() as session:
        await session.execute(update(AlertRow).values(status="resolved"))
    await sink.raise_alert(alert)
    await sink.close()
    assert len(webhook.received) == 2


async def test_delivery_retries_a_failing_webhook(db: Database, webhook: JsonEndpoint) -> None:
    webhook.fail_next(2, status=503)
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    await sink.raise_alert(Alert("warning", "Performance", "Slow processing: 45.00s"))

    rows = await eventually(lambda: _delivered(db, 1), what="the delivery after retries")
    assert rows[0].delivery_status == "delivered"
    assert webhook.attempts == 3
    assert len(webhook.received) == 1


async def test_a_refusing_webhook_is_recorded_as_failed(db: Database, webhook: JsonEndpoint) -> None:
    webhook.fail_next(1, status=400)
    sink = StoredAlertSink(db, cooldown_seconds=300, webhook_urls=[webhook.url])
    await sink.raise_alert(Alert("warning", "Performance", "Slow processing: 45.00s"))

    rows = await eventually(lambda: _delivered(db, 1), what="the failed delivery")
    assert rows[0].delivery_status == "failed"
    assert rows[0].delivery_error == "127.0.0.1: HTTP 400"
    assert webhook.attempts == 1  # a 400 is not retried


async def test_alerts_api_lists_filters_pages_and_acknowledges(
    tmp_path: Path, database_url: str, webhook: JsonEndpoint
) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url, alert_webhook_urls=[webhook.url]))
    for number in range(3):
        await runtime.alerts.raise_alert(Alert("warning", "Resources", f"High disk usage {number}"))
    await runtime.alerts.raise_alert(Alert("critical", "database", "database is unhealthy"))
    async with admin_client(runtime) as client:
        everything = (await client.get("/alerts")).json()
        assert everything["total"] == 4
        assert everything["items"][0]["message"] == "database is unhealthy"  # newest first

        critical = (await client.get("/alerts", params={"severity": "CRITICAL"})).json()
        assert [item["component"] for item in critical["items"]] == ["database"]
        page = (await client.get("/alerts", params={"component": "resources", "page": 2, "page_size": 2})).json()
        assert page["total"] == 3
        assert len(page["items"]) == 1
        since = (utcnow() + timedelta(minutes=1)).isoformat()
        assert (await client.get("/alerts", params={"since": since})).json()["total"] == 0

        alert_id = critical["items"][0]["id"]
        acknowledged = (await client.post(f"/alerts/{alert_id}/acknowledge", json={"by": "oncall"})).json()
        assert acknowledged["status"] == "acknowledged"
        assert acknowledged["acknowledged_by"] == "oncall"
        resolved = (await client.post(f"/alerts/{alert_id}/resolve")).json()
        assert resolved["status"] == "resolved"
        assert resolved["resolved_at"]
        assert (await client.post(f"/alerts/{alert_id}/acknowledge")).status_code == 409
        assert (await client.get("/alerts", params={"status": "open"})).json()["total"] == 3

        missing = await client.get("/alerts/999999")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        bad = await client.get("/alerts", params={"severity": "loud"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "validation_error"
    await runtime.close()
    assert len(webhook.received) == 4
