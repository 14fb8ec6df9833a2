"""The audit log: who changed what, and every failed attempt to get in (read by the security monitor)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.db import Database
from emailbot.store.tables import AuditLogRow, utcnow

AUTH_FAILED = "auth.failed"

# Failed attempts since start, by reason: cheap to read for health pages without a query.
failed_attempts: Counter[str] = Counter()


def add_entry(
    session: AsyncSession, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
) -> None:
    session.add(
        AuditLogRow(at=utcnow(), actor=actor[:200], action=action[:100], target=target[:200], details=details or {})
    )


async def record(
    db: Database, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
) -> None:
    """One entry in its own transaction (used where the request's own work may have been rolled back)."""
    async with db.transaction() as session:
        add_entry(session, actor, action, target, details)


async def record_failed_auth(db: Database, actor: str, client: str, path: str, reason: str) -> None:
    failed_attempts[reason] += 1
    await record(db, actor, AUTH_FAILED, path, {"client": client, "path": path, "reason": reason})
