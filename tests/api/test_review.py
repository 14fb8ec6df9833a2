"""Review actions, the review queue, run-time settings and rules, through the API of a real runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from emailbot.ops.live_settings import load_stored
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import FeedbackRow
from tests.factories import rfc822

ALL_DRAFTS = {"threshold_auto": 99.9, "threshold_suggest": 1, "threshold_review": 0.5}


def _deliver(runtime: Runtime, name: str, raw: bytes) -> None:
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)


def _sent(runtime: Runtime) -> list[Path]:
    return sorted(Path(runtime.settings.local_mailbox_dir).glob(".Sent/*/*"))


async def _drafts(client: httpx.AsyncClient, runtime: Runtime, *subjects: str) -> dict[str, int]:
    assert (await client.put("/config/settings", json=ALL_DRAFTS)).status_code == 200
    for n, subject in enumerate(subjects):
        _deliver(runtime, f"{n}.eml", rfc822(subject, f"{subject}. Please help, thanks."))
    await client.post("/process/trigger")
    items = (await client.get("/review/queue")).json()["items"]
    return {item["subject"]: item["id"] for item in items}


async def _feedback(runtime: Runtime) -> list[tuple[int, str]]:
    async with runtime.db.transaction() as session:
        return [(row.email_id, row.kind) for row in await session.scalars(select(FeedbackRow).order_by(FeedbackRow.id))]


async def test_approve_an_edited_draft_sends_it_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await _drafts(client, runtime, "Cannot print on floor 2", "Need a new laptop")
    email_id = ids["Cannot print on floor 2"]
    text = "Hi Alice, the printer is fixed now."
    approvals = await asyncio.gather(
        *(client.post(f"/emails/{email_id}/approve", json={"text": text}) for _ in range(3))
    )
    assert sorted(a.json()["status"] for a in approvals) == ["already_sent", "already_sent", "sent"]
    (reply,) = _sent(runtime)
    assert text.encode() in reply.read_bytes()
    assert b"Subject: Re: Cannot print on floor 2" in reply.read_bytes()
    detail = (await client.get(f"/emails/{email_id}")).json()
    assert detail["processing_result"]["response_sent"] is True
    assert detail["processing_result"]["status"] == "completed"
    assert (detail["response"]["kind"], detail["response"]["status"]) == ("reply", "done")
    assert detail["response"]["text"].strip() == text
    assert [item["id"] for item in (await client.get("/review/queue")).json()["items"]] == [ids["Need a new laptop"]]
    assert await _feedback(runtime) == [(email_id, "draft_edited")]
    assert (await client.post(f"/emails/{email_id}/reprocess")).status_code == 409  # it could answer twice
    assert (await client.post(f"/emails/{email_id}/reject", json={})).status_code == 409


async def test_approve_the_draft_as_is_and_reject_another(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await _drafts(client, runtime, "Cannot print on floor 2", "Need a new laptop")
    approved = await client.post(f"/emails/{ids['Cannot print on floor 2']}/approve", json={})
    assert approved.json()["status"] == "sent"
    assert b"Thank you" in _sent(runtime)[0].read_bytes()  # the template's draft, unchanged
    rejected = await client.post(f"/emails/{ids['Need a new laptop']}/reject", json={"reason": "wrong template"})
    assert rejected.status_code == 200
    assert (await client.get("/review/queue")).json()["total"] == 0
    assert [kind for _, kind in await _feedback(runtime)] == ["draft_approved", "draft_rejected"]
    assert len(_sent(runtime)) == 1


async def test_a_correction_changes_the_accuracy(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await _drafts(client, runtime, "Cannot print on floor 2", "Need a new laptop")
    first, second = ids["Cannot print on floor 2"], ids["Need a new laptop"]
    assert (await client.get("/process/status")).json()["processing_stats"]["classification_accuracy"] is None
    assert (await client.post(f"/emails/{first}/reviewed")).status_code == 200
    assert (await client.get("/process/status")).json()["processing_stats"]["classification_accuracy"] == 1.0
    current = (await client.get(f"/emails/{second}")).json()["processing_result"]["category"]
    other = "INFORMATION" if current != "INFORMATION" else "SUPPORT"
    corrected = await client.post(f"/emails/{second}/category", json={"category": other.lower()})
    assert corrected.status_code == 200
    assert (await client.get(f"/emails/{second}")).json()["processing_result"]["category"] == other
    assert (await client.get("/process/status")).json()["processing_stats"]["classification_accuracy"] == 0.5
    assert (await client.get("/learning/status")).json()["feedback"] == {
        "category_confirmed": 1,
        "category_corrected": 1,
    }
    unknown = await client.post(f"/emails/{second}/category", json={"category": "WEATHER"})
    assert unknown.status_code == 422
    assert "WEATHER" in unknown.json()["error"]["message"]
    assert (await client.post("/emails/999999/category", json={"category": "SUPPORT"})).status_code == 404


async def test_reprocess_routes_again_with_new_settings(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await _drafts(client, runtime, "Cannot print on floor 2")
    email_id = ids["Cannot print on floor 2"]
    assert (
        await client.put("/config/settings", json={"threshold_suggest": 99, "threshold_auto": 99.5})
    ).status_code == 200
    again = await client.post(f"/emails/{email_id}/reprocess")
    assert again.status_code == 200
    assert again.json()["details"]["action"] == "HUMAN_REVIEW"
    detail = (await client.get(f"/emails/{email_id}")).json()
    assert detail["processing_result"]["action"] == "HUMAN_REVIEW"
    assert any("superseded" in (event.get("key") or "") for event in detail["timeline"])


async def test_resolve_an_escalation_opened_by_a_rule(client: httpx.AsyncClient, runtime: Runtime) -> None:
    rule = {"name": "outages", "subject_contains": "outage", "action": "escalate", "priority": 5}
    created = await client.post("/processing/rules", json=rule)
    assert created.status_code == 201
    _deliver(runtime, "o.eml", rfc822("Network outage in building B", "Nothing works."))
    await client.post("/process/trigger")
    (item,) = (await client.get("/emails")).json()["items"]
    escalation = (await client.get(f"/emails/{item['id']}")).json()["escalation"]
    assert escalation["status"] == "active"
    resolved = await client.post(f"/escalations/{escalation['id']}/resolve", json={"notes": "switch swapped"})
    assert resolved.status_code == 200
    after = (await client.get(f"/emails/{item['id']}")).json()["escalation"]
    assert (after["status"], after["resolution_notes"]) == ("resolved", "switch swapped")
    assert after["resolved_at"] is not None
    again = {"notes": "again"}
    assert (await client.post(f"/escalations/{escalation['id']}/resolve", json=again)).status_code == 409
    assert (await client.post("/escalations/999/resolve", json=again)).status_code == 404


async def test_settings_are_validated_applied_and_kept(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    wrong = await client.put("/config/settings", json={"threshold_suggest": 95})
    assert wrong.status_code == 422
    assert "threshold_auto > threshold_suggest" in str(wrong.json()["error"]["details"])
    for bad in ({"poll_interval_seconds": 0}, {"nonsense": 1}, {"escalation_default_members": ["not an address"]}, {}):
        assert (await client.put("/config/settings", json=bad)).status_code == 422, bad
    changes = {
        "threshold_auto": 92,
        "threshold_suggest": 70,
        "poll_interval_seconds": 5,
        "escalation_default_members": ["oncall@example.com"],
        "max_replies_per_sender_per_hour": 1,
    }
    saved = await client.put("/config/settings", json=changes)
    assert saved.status_code == 200
    assert (runtime.config.thresholds.auto, runtime.config.thresholds.suggest) == (92, 70)
    assert runtime.engine.timing.poll_interval == 5
    assert runtime.processor.planner.default_members == ("oncall@example.com",)
    assert runtime.config.max_replies_per_sender_per_hour == 1
    assert (await client.get("/config/settings")).json()["settings"]["threshold_auto"] == 92
    # A restart keeps them: values changed at run time win over the environment.
    restarted = build_runtime(runtime.settings)
    try:
        await load_stored(restarted)
        assert restarted.config.thresholds.auto == 92
        assert restarted.engine.timing.poll_interval == 5
    finally:
        await restarted.close()


async def test_rules_crud_and_validation(client: httpx.AsyncClient) -> None:
    rule = {"name": "vendor", "domain": "@Vendor.example", "action": "reply", "template": "Hi {{ sender_name }}"}
    created = (await client.post("/processing/rules", json=rule)).json()
    assert created["domain"] == "@Vendor.example"
    rule_id = created["id"]
    replaced = await client.put(f"/processing/rules/{rule_id}", json={**rule, "priority": 1, "enabled": False})
    assert replaced.json()["priority"] == 1
    assert replaced.json()["enabled"] is False
    assert [r["id"] for r in (await client.get("/processing/rules")).json()["items"]] == [rule_id]
    assert (await client.delete(f"/processing/rules/{rule_id}")).status_code == 204
    assert (await client.get(f"/processing/rules/{rule_id}")).status_code == 404
    bad_rules = [
        {"name": "no condition", "action": "skip"},
        {"name": "bad action", "action": "explode", "domain": "a.example"},
        {"name": "bad sender", "action": "skip", "sender": "nobody"},
        {"name": "template needs reply", "action": "skip", "domain": "a.example", "template": "x"},
        {"name": "unknown category", "action": "review", "category": "WEATHER"},
        {"name": "broken template", "action": "reply", "domain": "a.example", "template": "{{ unclosed"},
        {"name": "unknown variable", "action": "reply", "domain": "a.example", "template": "{{ password }}"},
    ]
    for bad in bad_rules:
        response = await client.post("/processing/rules", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "validation_error"
