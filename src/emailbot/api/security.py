"""Security events (the manual's SecurityMonitor)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.ops.security import check_security_events

router = APIRouter(prefix="/security", tags=["security"])


@router.get("/events")
async def security_events(
    runtime: RuntimeDep, session: SessionDep, hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24
) -> dict[str, Any]:
    """Failed authentication (last hour), unusual access (last `hours`) and the encryption of stored mail."""
    return await check_security_events(session, runtime.settings, hours, runtime.ops.clients)
