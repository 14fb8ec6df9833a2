"""Operational state in the database, shared by every EmailBot process: the pause flag and resumable progress."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.tables import SystemStateRow, utcnow

PAUSE_KEY = "processing_paused"


async def get(session: AsyncSession, key: str) -> dict[str, Any] | None:
    row = await session.get(SystemStateRow, key)
    return dict(row.value) if row is not None else None


async def put(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    row = await session.get(SystemStateRow, key)
    if row is None:
        session.add(SystemStateRow(key=key, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()
    await session.flush()


async def remove(session: AsyncSession, key: str) -> None:
    await session.execute(delete(SystemStateRow).where(SystemStateRow.key == key))


async def pause_processing(session: AsyncSession, reason: str) -> None:
    """Every engine stops ingesting and claiming work until `resume_processing`; in-flight batches finish."""
    await put(session, PAUSE_KEY, {"reason": reason, "since": utcnow().isoformat()})


async def resume_processing(session: AsyncSession) -> None:
    await remove(session, PAUSE_KEY)


async def pause_state(session: AsyncSession) -> dict[str, Any] | None:
    """The pause flag's reason and start, or None when processing runs."""
    row = await session.scalar(select(SystemStateRow.value).where(SystemStateRow.key == PAUSE_KEY))
    return dict(row) if row is not None else None
