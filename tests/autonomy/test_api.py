"""`/autonomy` in the API: the table for any reader, grant/revoke/reset for admins only, errors in the API's format,
and every change in the audit log."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from emailbot.auth.keys import Role
from emailbot.runtime import Runtime
from emailbot.store.tables import AuditLogRow
from tests.api_clients import KeyMaker
from tests.autonomy.conftest import MIN_REVIEWS, TARGET_PRECISION


async def test_a_viewer_reads_the_table(anonymous: httpx.AsyncClient, key_for: KeyMaker, runtime: Runtime) -> None:
    response = await anonymous.get("/autonomy", headers={"X-API-Key": await key_for(Role.VIEWER)})
    assert response.status_code == 200
    body = response.json()
    assert (body["mode"], body["min_reviews"], body["target_precision"]) == ("earned", MIN_REVIEWS, TARGET_PRECISION)
    assert [item["category"] for item in body["items"]] == list(runtime.taxonomy.names)
    support = next(item for item in body["items"] if item["category"] == "SUPPORT")
    assert support == {
        "category": "SUPPORT",
        "reviews": 0,
        "confirmed": 0,
        "precision": None,
        "emails": 0,
        "emails_at_or_above_threshold": 0,
        "coverage": None,
        "earned": False,
        "auto_send": False,
        "status": "not yet earned",
        "override": None,
        "blocked_because": f"auto-send not yet earned for SUPPORT: 0 reviews (needs 75.0% over {MIN_REVIEWS})",
    }


async def test_an_operator_may_not_grant(anonymous: httpx.AsyncClient, key_for: KeyMaker) -> None:
    response = await anonymous.post("/autonomy/SUPPORT/grant", headers={"X-API-Key": await key_for(Role.OPERATOR)})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_an_admin_grants_revokes_and_resets(client: httpx.AsyncClient, runtime: Runtime) -> None:
    granted = await client.post("/autonomy/support/grant", json={"reason": "trial"})
    assert granted.status_code == 200
    row = granted.json()["category"]
    assert (row["auto_send"], row["status"], row["override"]["reason"]) == (True, "granted by test admin", "trial")
    revoked = (await client.post("/autonomy/SUPPORT/revoke")).json()["category"]
    assert (revoked["auto_send"], revoked["status"]) == (False, "revoked by test admin")
    assert revoked["blocked_because"] == "auto-send revoked for SUPPORT by test admin"
    reset = (await client.post("/autonomy/SUPPORT/reset")).json()
    assert reset["category"]["override"] is None
    async with runtime.db.transaction() as session:
        query = select(AuditLogRow.action).where(AuditLogRow.target == "category:SUPPORT")
        actions = list(await session.scalars(query))
    assert actions == ["autonomy.grant", "autonomy.revoke", "autonomy.reset"]


async def test_unknown_category_and_bad_body_are_clear_errors(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/autonomy/NOPE/grant")
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "not_found"
    assert "NOPE" in error["message"]
    assert error["request_id"]
    extra = await client.post("/autonomy/SUPPORT/grant", json={"reason": "x", "category": "INFORMATION"})
    assert extra.status_code == 422
    assert extra.json()["error"]["code"] == "validation_error"


async def test_listed_in_openapi(anonymous: httpx.AsyncClient) -> None:
    paths = (await anonymous.get("/openapi.json")).json()["paths"]
    assert "get" in paths["/autonomy"]
    assert {f"/autonomy/{{category}}/{verb}" for verb in ("grant", "revoke", "reset")} <= set(paths)
