"""Dashboard sessions: the browser holds a random token in an HttpOnly cookie; the database holds its digest,
the key it was opened with and the session's CSRF token. Revoking the key ends its sessions at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.auth.keys import Principal, digest, principal_by_id
from emailbot.store.tables import UiSessionRow, utcnow

COOKIE_NAME = "emailbot_session"


@dataclass(frozen=True, slots=True)
class UiSession:
    principal: Principal
    csrf_token: str


async def open_session(session: AsyncSession, principal: Principal, hours: float) -> str:
    """A new session for `principal`; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await session.execute(delete(UiSessionRow).where(UiSessionRow.expires_at < now))
    session.add(
        UiSessionRow(
            token_hash=digest(token),
            key_id=principal.key_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    await session.flush()
    return token


async def find_session(session: AsyncSession, token: str) -> UiSession | None:
    row = await session.scalar(select(UiSessionRow).where(UiSessionRow.token_hash == digest(token)))
    if row is None or row.expires_at < utcnow():
        return None
    principal = await principal_by_id(session, row.key_id)
    return UiSession(principal, row.csrf_token) if principal else None


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(UiSessionRow).where(UiSessionRow.token_hash == digest(token)))
