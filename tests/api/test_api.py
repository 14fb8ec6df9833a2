"""The HTTP API against a real runtime (real database, real Maildir, real classifier), in process."""

from __future__ import annotations

from pathlib import Path

import httpx

from emailbot.runtime import Runtime
from tests.factories import rfc822


def _deliver(runtime: Runtime, name: str, raw: bytes) -> None:
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)


async def test_root_and_health(client: httpx.AsyncClient) -> None:
    root = (await client.get("/")).json()
    assert root["service"] == "EmailBot"
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["checks"]["database"] == "healthy"
    detailed = (await client.get("/health/detailed")).json()
    assert set(detailed["components"]) == {"database", "mailbox", "classifier", "queue", "configuration"}
    # The engine is not running in this app, so the queue component says so.
    assert detailed["components"]["queue"]["status"] == "degraded"
    assert detailed["status"] == "degraded"


async def test_trigger_processes_and_status_counts(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _deliver(runtime, "1.a", rfc822("Cannot print", "The printer on floor 2 shows an error. Please help."))
    _deliver(runtime, "1.b", rfc822("Weekly newsletter", "News", headers={"List-Id": "<news.example.com>"}))
    trigger = await client.post("/process/trigger")
    assert trigger.status_code == 202
    status = (await client.get("/process/status")).json()
    assert status["emails_processed_today"] == 2
    assert status["current_queue_size"] == 0
    stats = status["processing_stats"]
    assert stats["total_processed"] == 2
    assert stats["success_rate"] == 1.0
    assert stats["average_processing_time"] is not None
    assert stats["classification_accuracy"] is None
    assert status["last_processing"] is not None


async def test_list_filter_and_detail(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _deliver(runtime, "1.a", rfc822("Cannot print", "The printer shows an error.", sender="Bob <bob@a.example>"))
    _deliver(runtime, "1.b", rfc822("Newsletter", "News", sender="news@b.example", headers={"Precedence": "bulk"}))
    await client.post("/process/trigger")
    everything = (await client.get("/emails")).json()
    assert everything["total"] == 2
    by_sender = (await client.get("/emails", params={"sender": "BOB@"})).json()
    assert [item["sender"] for item in by_sender["items"]] == ["bob@a.example"]
    # Bulk mail that asks nothing was a HUMAN_REVIEW (loop guard) before noise had its own outcome.
    reviewed = (await client.get("/emails", params={"action": "NO_ACTION"})).json()
    assert [item["sender"] for item in reviewed["items"]] == ["news@b.example"]
    paged = (await client.get("/emails", params={"page": 2, "page_size": 1})).json()
    assert len(paged["items"]) == 1
    assert paged["page"] == 2
    detail = (await client.get(f"/emails/{reviewed['items'][0]['id']}")).json()
    assert detail["classification"]["category"]
    assert detail["processing_result"]["status"] == "completed"
    assert detail["processing_result"]["reason"].startswith("noise: newsletter")
    assert detail["loop_signals"]["precedence"] == "bulk"
    assert [event["event"] for event in detail["timeline"]][0] == "received"


async def test_errors_use_the_manual_format(client: httpx.AsyncClient) -> None:
    missing = await client.get("/emails/999999", headers={"X-Request-ID": "req-42"})
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == "req-42"
    assert set(error) == {"code", "message", "details", "timestamp", "request_id"}
    bad = await client.get("/emails", params={"page": 0, "status": "nonsense"})
    assert bad.status_code == 422
    details = bad.json()["error"]["details"]
    assert {tuple(d["location"]) for d in details} == {("query", "page"), ("query", "status")}
    backwards = await client.get(
        "/emails", params={"received_from": "2025-02-01T00:00:00Z", "received_to": "2025-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 422
    unknown = await client.get("/no/such/route")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


async def test_config_validation_reports_each_part(client: httpx.AsyncClient, runtime: Runtime) -> None:
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
    body = (await client.get("/config/validation")).json()
    environment = body["validations"]["environment"]
    assert environment["status"] == "pass"
    assert environment["details"]["database"] == runtime.db.backend
    assert body["status"] == "valid"


async def test_config_validation_names_the_setting_to_fix(client: httpx.AsyncClient, runtime: Runtime) -> None:
    # A file where the data directory should be: not writable as a directory, even for root.
    runtime.settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    runtime.settings.data_dir.write_text("not a directory")
    body = (await client.get("/config/validation")).json()
    assert body["status"] == "invalid"
    assert "EMAILBOT_DATA_DIR" in body["validations"]["environment"]["message"]
