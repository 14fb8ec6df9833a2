"""Notification targets (webhooks, the Teams chat) and the record of every delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.api.errors import ApiError
from emailbot.api.escalations import delivery_out
from emailbot.store.tables import NotificationDeliveryRow, NotificationTargetRow, utcnow

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("/targets")
async def list_targets(session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The configured targets (never their URLs, which are secrets) with their stored state."""
    stored = {row.name: row for row in await session.scalars(select(NotificationTargetRow))}
    targets = []
    for name, kind in _configured(runtime):
        row = stored.get(name)
        targets.append(
            {
                "name": name,
                "kind": kind,
                "disabled": bool(row and row.disabled),
                "disabled_reason": row.disabled_reason if row else None,
                "disabled_at": row.disabled_at if row else None,
            }
        )
    return {"targets": targets}


@router.post("/targets/{name}/enable")
async def enable_target(name: str, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    if name not in dict(_configured(runtime)):
        raise ApiError(404, "not_found", f"Notification target {name!r} is not configured.")
    row = await session.get(NotificationTargetRow, name)
    if row is not None and row.disabled:
        row.disabled, row.disabled_reason, row.disabled_at, row.updated_at = False, None, None, utcnow()
    return {"name": name, "disabled": False}


@router.get("/deliveries")
async def list_deliveries(
    session: SessionDep,
    target: str | None = None,
    status: str | None = None,
    escalation_id: int | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    query = select(NotificationDeliveryRow)
    if target:
        query = query.where(NotificationDeliveryRow.target == target)
    if status:
        query = query.where(NotificationDeliveryRow.status == status)
    if escalation_id is not None:
        query = query.where(NotificationDeliveryRow.escalation_id == escalation_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(NotificationDeliveryRow.id.desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return {"items": [delivery_out(row) for row in rows], "total": total, "page": page, "page_size": page_size}


def _configured(runtime: RuntimeDep) -> list[tuple[str, str]]:
    notifications = runtime.notifications
    if notifications is None:
        return []
    return [(n.name, getattr(n, "kind", n.name)) for n in notifications.notifiers]
