"""The admins' grants and revocations of auto-send per category (`autonomy_overrides`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.tables import AutonomyOverrideRow, utcnow


class OverrideState(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Override:
    state: OverrideState
    actor: str
    reason: str
    changed_at: datetime


async def overrides(session: AsyncSession) -> dict[str, Override]:
    rows = await session.scalars(select(AutonomyOverrideRow))
    return {row.category: Override(OverrideState(row.state), row.actor, row.reason, row.changed_at) for row in rows}


async def set_override(session: AsyncSession, category: str, state: OverrideState, actor: str, reason: str) -> Override:
    """Grant or revoke; a second grant or revoke replaces the first (who and when are the latest)."""
    row = await session.get(AutonomyOverrideRow, category)
    if row is None:
        row = AutonomyOverrideRow(category=category)
        session.add(row)
    row.state, row.actor, row.reason, row.changed_at = state.value, actor[:200], reason[:2000], utcnow()
    await session.flush()
    return Override(state, row.actor, row.reason, row.changed_at)


async def clear_override(session: AsyncSession, category: str) -> bool:
    """Back to what the reviews say; False when there was no override."""
    result = await session.execute(delete(AutonomyOverrideRow).where(AutonomyOverrideRow.category == category))
    return bool(getattr(result, "rowcount", 0))
