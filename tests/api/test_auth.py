"""API keys, roles, open endpoints, the audit log and rate limits (in memory and in a real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from emailbot.api.app import create_app
from emailbot.auth.keys import Role, authenticate, bootstrap_admin, create_key, digest, revoke_key
from emailbot.auth.ratelimit import MemoryRateLimiter, RedisRateLimiter
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import ApiKeyRow, AuditLogRow
from tests.api_clients import KeyMaker
from tests.runtime_fixtures import settings_for
from tests.services import REDIS_URL


async def _audit(runtime: Runtime, action: str | None = None) -> list[AuditLogRow]:
    async with runtime.db.transaction() as session:
        query = select(AuditLogRow).order_by(AuditLogRow.id)
        if action:
            query = query.where(AuditLogRow.action == action)
        return list(await session.scalars(query))


async def test_open_endpoints_need_no_key_and_browsers_go_to_the_dashboard(anonymous: httpx.AsyncClient) -> None:
    for path in ("/", "/health", "/health/detailed", "/openapi.json"):
        assert (await anonymous.get(path)).status_code == 200, path
    browser = await anonymous.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 303
    assert browser.headers["location"] == "/ui/"
    assert (await anonymous.get("/", headers={"Accept": "application/json"})).json()["service"] == "EmailBot"


async def test_every_refusal_is_a_401_or_403_and_is_audited(
    anonymous: httpx.AsyncClient, runtime: Runtime, key_for: KeyMaker
) -> None:
    missing = await anonymous.get("/emails")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.json()["error"]["details"] == {"reason": "missing"}
    assert "X-API-Key" in missing.headers["www-authenticate"]
    assert (await anonymous.get("/emails", headers={"X-API-Key": "eb_notakey\x7f"})).status_code == 401
    viewer = await key_for(Role.VIEWER)
    async with runtime.db.transaction() as session:
        revoked = await create_key(session, "old laptop", Role.ADMIN)
        assert await revoke_key(session, "old laptop") == 1
    assert (await anonymous.get("/emails", headers={"X-API-Key": revoked})).status_code == 401
    forbidden = await anonymous.post("/process/trigger", headers={"X-API-Key": viewer})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["details"] == {"required_role": "operator"}

    failures = await _audit(runtime, "auth.failed")
    assert [(row.actor, row.details["reason"]) for row in failures] == [
        ("anonymous", "missing"),
        ("eb_notakey", "unknown"),
        (revoked[:11], "revoked"),
        (viewer[:11], "forbidden"),
    ]
    assert all(row.details["client"] == "127.0.0.1" for row in failures)
    assert {row.details["path"] for row in failures} == {"/emails", "/process/trigger"}


async def test_roles_viewer_reads_operator_acts_admin_configures(
    app: FastAPI, anonymous: httpx.AsyncClient, key_for: KeyMaker
) -> None:
    later = APIRouter()  # a router another area adds: the same policy protects it without a line of its own

    @later.post("/internal/metrics/update")
    async def update() -> dict[str, str]:
        return {"status": "updated"}

    @later.post("/escalations/{escalation_id}/notes")
    async def notes(escalation_id: int) -> dict[str, int]:
        return {"id": escalation_id}

    app.include_router(later)
    viewer = await key_for(Role.VIEWER)
    operator = await key_for(Role.OPERATOR)
    admin = await key_for(Role.ADMIN)

    async def status(method: str, path: str, key: str, **kwargs: object) -> int:
        return (await anonymous.request(method, path, headers={"X-API-Key": key}, **kwargs)).status_code  # type: ignore[arg-type]

    assert await status("GET", "/process/status", viewer) == 200
    assert await status("GET", "/config/settings", viewer) == 200
    assert await status("POST", "/process/trigger", operator) == 202
    assert await status("PUT", "/config/settings", operator, json={"threshold_auto": 90}) == 403
    assert (
        await status("POST", "/processing/rules", operator, json={"name": "x", "action": "skip", "domain": "a.example"})
        == 403
    )
    assert await status("PUT", "/config/settings", admin, json={"threshold_auto": 90}) == 200
    # A route this branch does not know (another area's router) is protected by the same policy.
    assert await status("POST", "/internal/metrics/update", operator) == 403
    assert await status("POST", "/internal/metrics/update", admin) == 200
    assert await status("POST", "/escalations/7/notes", viewer) == 403
    assert await status("POST", "/escalations/7/notes", operator) == 200
    assert await status("POST", "/escalations/7/notes", "") == 401


async def test_changes_are_audited_with_the_key_name_and_no_body(
    anonymous: httpx.AsyncClient, runtime: Runtime, key_for: KeyMaker
) -> None:
    admin = await key_for(Role.ADMIN)
    response = await anonymous.put("/config/settings", headers={"X-API-Key": admin}, json={"threshold_auto": 91})
    assert response.status_code == 200
    await anonymous.get("/emails", headers={"X-API-Key": admin})  # a read: not audited
    (entry,) = await _audit(runtime, "PUT /config/settings")
    assert entry.actor == "test admin"
    assert entry.target == "/config/settings"
    assert entry.details["key"] == admin[:11]
    assert entry.details["status"] == 200
    assert set(entry.details) == {"key", "role", "status", "client", "request_id"}  # never the request's body
    assert [row.action for row in await _audit(runtime)] == ["PUT /config/settings"]


async def test_keys_are_stored_hashed_and_the_first_run_makes_one_admin(runtime: Runtime, tmp_path: Path) -> None:
    async with runtime.db.transaction() as session:
        key = await bootstrap_admin(session, tmp_path / "data")
        assert key is not None
        assert await bootstrap_admin(session, tmp_path / "data") is None  # an admin exists now
        row = await session.scalar(select(ApiKeyRow))
        assert row is not None
        assert row.key_hash == digest(key) != key
        assert row.prefix == key[:11]
        principal = await authenticate(session, key)
        assert not isinstance(principal, str)
        assert principal.role == Role.ADMIN
    saved = tmp_path / "data" / "admin-api-key.txt"
    assert saved.read_text().strip() == key
    assert saved.stat().st_mode & 0o777 == 0o600


async def test_the_environment_key_is_an_admin_key(tmp_path: Path, database_url: str) -> None:
    secret = "env-key-" + uuid.uuid4().hex
    runtime = build_runtime(settings_for(tmp_path, database_url, api_key=secret))
    app = create_app(runtime, run_engine=False)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                headers = {"X-API-Key": secret}
                assert (
                    await http.put("/config/settings", headers=headers, json={"threshold_review": 30})
                ).status_code == 200
    finally:
        await runtime.close()


@pytest.mark.parametrize("public", [False, True])
async def test_status_counts_open_up_only_when_configured(tmp_path: Path, database_url: str, public: bool) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url, status_public=public))
    app = create_app(runtime, run_engine=False)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                status = await http.get("/process/status")
                assert status.status_code == (200 if public else 401)
                if public:
                    assert status.json()["emails_processed_today"] == 0
                assert (await http.get("/emails")).status_code == 401  # content always needs a key
                assert (await http.post("/process/trigger")).status_code == 401
    finally:
        await runtime.close()


@pytest.fixture
async def limited(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[FastAPI, Runtime]]:
    runtime = build_runtime(settings_for(tmp_path, database_url, rate_limit_per_minute=3))
    yield create_app(runtime, run_engine=False), runtime
    await runtime.close()


async def _three_then_refused(app: FastAPI, key: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"X-API-Key": key}) as http:
        first = await http.get("/emails")
        assert first.headers["X-RateLimit-Limit"] == "3"
        assert first.headers["X-RateLimit-Remaining"] == "2"
        assert 1 <= int(first.headers["X-RateLimit-Reset"]) <= 60
        assert (await http.get("/process/status")).headers["X-RateLimit-Remaining"] == "2"  # another route
        await http.get("/emails")
        assert (await http.get("/emails")).headers["X-RateLimit-Remaining"] == "0"
        return await http.get("/emails")


async def test_rate_limit_per_key_and_route_in_memory(limited: tuple[FastAPI, Runtime]) -> None:
    app, runtime = limited
    async with runtime.db.transaction() as session:
        key = await create_key(session, "script", Role.VIEWER)
    refused = await _three_then_refused(app, key)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) == int(refused.headers["X-RateLimit-Reset"])
    assert refused.headers["X-RateLimit-Remaining"] == "0"


async def test_rate_limit_is_shared_through_redis(limited: tuple[FastAPI, Runtime]) -> None:
    app, runtime = limited
    namespace = f"emailbot-test:{uuid.uuid4().hex}"
    app.state.rate_limiter = RedisRateLimiter(REDIS_URL, 3, namespace)
    async with runtime.db.transaction() as session:
        key = await create_key(session, "script", Role.VIEWER)
    try:
        assert (await _three_then_refused(app, key)).status_code == 429
        # A second process with the same Redis sees the same count.
        async with runtime.db.transaction() as session:
            key_id = await session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.key_hash == digest(key)))
        other = RedisRateLimiter(REDIS_URL, 3, namespace)
        assert (await other.hit(f"{key_id}:GET:/emails")).remaining == -2
        assert (await other.hit(f"{key_id}:GET:/process/status")).remaining == 1
        await other.close()
    finally:
        await app.state.rate_limiter.close()


async def test_memory_limiter_starts_a_new_window() -> None:
    limiter = MemoryRateLimiter(1)
    assert (await limiter.hit("a")).allowed
    assert not (await limiter.hit("a")).allowed
    assert (await limiter.hit("b")).allowed
    limiter._window -= 60  # what the next minute looks like to the limiter
    assert (await limiter.hit("a")).allowed


async def test_admins_manage_keys_over_http(anonymous: httpx.AsyncClient, key_for: KeyMaker) -> None:
    admin, operator = await key_for(Role.ADMIN), await key_for(Role.OPERATOR)
    as_admin = {"X-API-Key": admin}
    assert (await anonymous.get("/keys", headers={"X-API-Key": operator})).status_code == 403
    created = await anonymous.post("/keys", headers=as_admin, json={"name": "night shift", "role": "operator"})
    assert created.status_code == 201
    new = created.json()["key"]
    listed = (await anonymous.get("/keys", headers=as_admin)).json()["items"]
    assert new not in str(listed)
    (row,) = [item for item in listed if item["name"] == "night shift"]
    assert (row["prefix"], row["role"]) == (new[:11], "operator")
    assert (await anonymous.post("/process/trigger", headers={"X-API-Key": new})).status_code == 202
    assert (await anonymous.delete(f"/keys/{row['id']}", headers=as_admin)).status_code == 204
    assert (await anonymous.post("/process/trigger", headers={"X-API-Key": new})).status_code == 401
    assert (await anonymous.delete(f"/keys/{row['id']}", headers=as_admin)).status_code == 404
    assert (await anonymous.post("/keys", headers=as_admin, json={"name": "x", "role": "root"})).status_code == 422


async def test_validation_says_when_nobody_can_get_in_or_redis_is_gone(tmp_path: Path, database_url: str) -> None:
    from emailbot.auth.validation import validate_api_access
    from tests.fakes.net import free_port

    down = f"redis://127.0.0.1:{free_port()}/0"
    runtime = build_runtime(settings_for(tmp_path, database_url, redis_url=down))
    try:
        nobody = await validate_api_access(runtime)
        assert (nobody.status, "emailbot keys create" in nobody.message) == ("fail", True)
        async with runtime.db.transaction() as session:
            await create_key(session, "admin", Role.ADMIN)
        gone = await validate_api_access(runtime)
        assert (gone.status, gone.message.split(" ")[0]) == ("fail", "EMAILBOT_REDIS_URL")
        # Meanwhile the API lets calls through rather than failing them all.
        limiter = RedisRateLimiter(down, 5)
        assert (await limiter.hit("a")).allowed
        await limiter.close()
    finally:
        await runtime.close()
    exposed = build_runtime(settings_for(tmp_path, database_url, public_url="http://emailbot.example.com"))
    try:
        warned = await validate_api_access(exposed)
        assert (warned.status, warned.message.split(" ")[0]) == ("warn", "EMAILBOT_PUBLIC_URL")
    finally:
        await exposed.close()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/", None),
        ("GET", "/health/detailed", None),
        ("POST", "/notifications/graph", None),  # Microsoft calls it; it checks its own clientState
        ("GET", "/ui/queue", None),  # the dashboard has its own sign-in
        ("GET", "/uiadmin", Role.VIEWER),  # beside the dashboard's tree, not in it
        ("POST", "/notifications/graphs", Role.OPERATOR),
        ("GET", "/analytics/performance", Role.VIEWER),
        ("GET", "/security/events", Role.VIEWER),
        ("POST", "/emails/1/approve", Role.OPERATOR),
        ("POST", "/escalations/1/resolve", Role.OPERATOR),
        ("PUT", "/config/settings", Role.ADMIN),
        ("DELETE", "/processing/rules/1", Role.ADMIN),
        ("GET", "/processing/rules", Role.VIEWER),
        ("POST", "/internal/patterns/analyze", Role.ADMIN),
        ("GET", "/keys", Role.ADMIN),
        ("POST", "/learning/retrain", Role.ADMIN),
    ],
)
def test_the_policy_by_path_and_method(method: str, path: str, expected: Role | None) -> None:
    from emailbot.api.auth import is_open, needed_role

    assert (None if is_open(path) else needed_role(method, path)) == expected
