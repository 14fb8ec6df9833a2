"""Escalations to webhooks through the real pipeline, checked by loopback receivers that speak each protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from emailbot.pipeline.act import Effect
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import NotificationTargetRow, SideEffectRow
from tests.api_clients import admin_client
from tests.escalations.helpers import OUTAGE_BODY, deliver_and_process, deliveries, escalate_outage
from tests.factories import rfc822
from tests.fakes.alerts import RecordingAlertSink
from tests.fakes.net import free_port
from tests.fakes.webhooks import WebhookServer
from tests.runtime_fixtures import settings_for

SECRET = "s3cret-for-signing"
HOSTILE_SUBJECT = "Production database is down <!channel> @here [click me](http://evil.example) <b>x</b>"


def _runtime(tmp_path: Path, database_url: str, targets: list[dict[str, str]]) -> Runtime:
    settings = settings_for(
        tmp_path,
        database_url,
        notify_webhooks=json.dumps(targets),
        notify_backoff_seconds=0.01,
        notify_max_attempts=3,
        public_url="https://emailbot.example",
    )
    runtime = build_runtime(settings)
    runtime.alerts = RecordingAlertSink()
    return runtime


@pytest.fixture
async def three_targets(tmp_path: Path, database_url: str, webhooks: WebhookServer) -> AsyncIterator[Runtime]:
    webhooks.add("/teams", "teams_workflow")
    webhooks.add("/slack", "slack")
    webhooks.add("/generic", "generic", SECRET)
    targets = [
        {"url": webhooks.url("/teams"), "kind": "teams_workflow", "name": "teams"},
        {"url": webhooks.url("/slack"), "kind": "slack", "name": "slack"},
        {"url": webhooks.url("/generic"), "kind": "generic", "name": "generic", "secret": SECRET},
    ]
    runtime = _runtime(tmp_path, database_url, targets)
    yield runtime
    await runtime.close()


async def test_an_escalation_reaches_every_target_in_its_own_format(
    three_targets: Runtime, webhooks: WebhookServer
) -> None:
    escalation = await escalate_outage(three_targets, subject=HOSTILE_SUBJECT)
    teams, slack, generic = (webhooks.receivers[p] for p in ("/teams", "/slack", "/generic"))
    assert [r.rejected for r in (teams, slack, generic)] == [[], [], []]
    assert [len(r.received) for r in (teams, slack, generic)] == [1, 1, 1]

    card = teams.received[0].json["attachments"][0]["content"]
    runs = [inline["text"] for block in card["body"] for inline in block.get("inlines", [])]
    assert HOSTILE_SUBJECT in runs  # literal, in a TextRun: Teams renders no Markdown link from it
    assert all(HOSTILE_SUBJECT not in block.get("text", "") for block in card["body"])
    assert card["actions"][0]["url"] == f"https://emailbot.example/ui/emails/{escalation.email_id}"
    facts = {fact["title"]: fact["value"] for block in card["body"] for fact in block.get("facts", [])}
    assert facts["Category"] == escalation.category
    assert facts["Urgency"] == escalation.urgency

    slack_text = json.dumps(slack.received[0].json["blocks"])
    assert "<!channel>" not in slack_text
    assert "&lt;!channel&gt;" in slack_text
    assert "@here" not in slack_text  # broken with a zero-width space
    assert "<b>" not in slack_text

    signed = generic.received[0]
    assert signed.headers["x-emailbot-delivery"] == f"notify:{escalation.id}:generic"
    body = signed.json
    assert body["event"] == "escalation.created"
    assert body["escalation"]["escalation_id"] == escalation.id
    assert body["escalation"]["members"] == escalation.members

    records = await deliveries(three_targets)
    assert {(d.target, d.status, d.http_status, d.attempts) for d in records} == {
        ("teams", "delivered", 200, 1),
        ("slack", "delivered", 200, 1),
        ("generic", "delivered", 200, 1),
    }


async def test_a_wrong_signing_secret_is_refused_by_the_receiver(
    tmp_path: Path, database_url: str, webhooks: WebhookServer
) -> None:
    receiver = webhooks.add("/generic", "generic", SECRET)
    targets = [{"url": webhooks.url("/generic"), "kind": "generic", "name": "generic", "secret": "wrong"}]
    runtime = _runtime(tmp_path, database_url, targets)
    try:
        await escalate_outage(runtime)
    finally:
        await runtime.close()
    assert receiver.received == []
    assert [problem for _, problem in receiver.rejected] == ["bad signature"]


async def test_a_notice_is_delivered_once_even_when_its_effect_runs_again(
    three_targets: Runtime, webhooks: WebhookServer
) -> None:
    await escalate_outage(three_targets)
    async with three_targets.db.sessions() as session:
        row = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "notify"))).one()
    # A worker that died after notifying but before recording the effect runs it again.
    await three_targets.processor.runner.run(Effect(row.kind, row.idempotency_key, row.payload), "src")
    assert [r.hits for r in webhooks.receivers.values()] == [1, 1, 1]


async def test_transient_failures_are_retried_with_backoff(
    tmp_path: Path, database_url: str, webhooks: WebhookServer
) -> None:
    receiver = webhooks.add("/slack", "slack")
    receiver.fail_with = [429, 502]
    runtime = _runtime(tmp_path, database_url, [{"url": webhooks.url("/slack"), "kind": "slack", "name": "slack"}])
    try:
        await escalate_outage(runtime)
        [record] = await deliveries(runtime)
        assert (record.status, record.attempts, record.http_status) == ("delivered", 3, 200)
        assert len(receiver.received) == 1
        assert runtime.alerts.alerts == []  # type: ignore[attr-defined]
    finally:
        await runtime.close()


async def test_an_outage_is_retried_recorded_and_disables_the_target_with_one_alert(
    tmp_path: Path, database_url: str, webhooks: WebhookServer
) -> None:
    down = webhooks.add("/generic", "generic", SECRET)
    down.outage = True
    webhooks.add("/slack", "slack")
    targets = [
        {"url": webhooks.url("/generic"), "kind": "generic", "name": "pager", "secret": SECRET},
        {"url": webhooks.url("/slack"), "kind": "slack", "name": "slack"},
    ]
    runtime = _runtime(tmp_path, database_url, targets)
    try:
        first = await escalate_outage(runtime)
        assert down.hits == 3
        records = {d.target: d for d in await deliveries(runtime)}
        failed = records["pager"]
        assert (failed.status, failed.attempts, failed.http_status) == ("failed", 3, 503)
        assert "503" in (failed.error or "")
        assert records["slack"].status == "delivered"  # the others still hear about it
        async with runtime.db.sessions() as session:
            target = await session.get(NotificationTargetRow, "pager")
            effect = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "notify"))).one()
        assert target is not None
        assert target.disabled
        assert effect.status == "done"
        alerts = runtime.alerts.alerts  # type: ignore[attr-defined]
        assert [(a.component, a.details["target"]) for a in alerts] == [("notifications", "pager")]
        assert webhooks.url("/generic") not in json.dumps([a.details for a in alerts])  # URLs are secrets

        down.outage = False
        await escalate_outage(runtime, name="2.a", subject="Mail server outage for everyone")
        assert down.hits == 3  # a disabled target is not contacted
        skipped = [d for d in await deliveries(runtime) if d.target == "pager" and d.escalation_id != first.id]
        assert [d.status for d in skipped] == ["skipped"]
        assert len(runtime.alerts.alerts) == 1  # type: ignore[attr-defined]

        async with admin_client(runtime) as client:
            listed = (await client.get("/notifications/targets")).json()["targets"]
            assert {t["name"]: t["disabled"] for t in listed} == {"pager": True, "slack": False}
            assert (await client.post("/notifications/targets/pager/enable")).status_code == 200
            assert (await client.post("/notifications/targets/nope/enable")).json()["error"]["code"] == "not_found"
            failures = (await client.get("/notifications/deliveries", params={"status": "failed"})).json()
            assert [item["target"] for item in failures["items"]] == ["pager"]
        await escalate_outage(runtime, name="3.a", subject="VPN outage in the whole building")
        assert len(down.received) == 1
    finally:
        await runtime.close()


async def test_a_rejected_request_disables_at_once(tmp_path: Path, database_url: str, webhooks: WebhookServer) -> None:
    gone = webhooks.add("/teams", "teams_workflow")
    gone.fail_with = [404]
    runtime = _runtime(tmp_path, database_url, [{"url": webhooks.url("/teams"), "kind": "teams_workflow"}])
    try:
        await escalate_outage(runtime)
        [record] = await deliveries(runtime)
        assert (record.target, record.status, record.attempts, record.http_status) == (
            "teams_workflow-1",
            "failed",
            1,
            404,
        )
        async with runtime.db.sessions() as session:
            effect = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "notify"))).one()
        # Nobody was reached: the effect fails for good and the email shows it.
        assert effect.status == "failed"
    finally:
        await runtime.close()


async def test_an_unreachable_receiver_counts_as_an_outage(tmp_path: Path, database_url: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    runtime = _runtime(tmp_path, database_url, [{"url": url, "kind": "generic", "secret": SECRET}])
    try:
        await deliver_and_process(runtime, "1.a", rfc822("Production database is down", OUTAGE_BODY))
        [record] = await deliveries(runtime)
        assert (record.status, record.attempts, record.http_status) == ("failed", 3, None)
        assert "ConnectError" in (record.error or "")
        assert len(runtime.alerts.alerts) == 1  # type: ignore[attr-defined]
    finally:
        await runtime.close()
