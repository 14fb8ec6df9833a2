"""API keys: random, shown once, stored as a SHA-256 digest with a short prefix that names the key in logs.

A key is `eb_` + 43 URL-safe characters (256 random bits). A slow password hash would add nothing for keys this
random, and a fast digest can be looked up directly (a unique index), so checking a key costs one query.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.auth.roles import Role
from emailbot.store.tables import ApiKeyRow, utcnow

__all__ = ["Role"]  # re-exported: the role is part of what a key is

KEY_PREFIX = "eb_"
PREFIX_LENGTH = 11  # "eb_" + 8 characters: enough to tell keys apart, far too little to guess the rest
BOOTSTRAP_FILE = "admin-api-key.txt"
BOOTSTRAP_NAME = "bootstrap admin"
ENV_KEY_NAME = "EMAILBOT_API_KEY"
LAST_USED_PRECISION = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name, prefix and role."""

    key_id: int
    name: str
    prefix: str
    role: Role


class KeyProblem(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    FORBIDDEN = "forbidden"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def prefix_of(key: str) -> str:
    """The part of a presented key that may be logged: printable characters only, never more than the prefix."""
    shown = "".join(c for c in key[:PREFIX_LENGTH] if c.isalnum() or c in "_-")
    return shown or "anonymous"


async def create_key(session: AsyncSession, name: str, role: Role, *, created_by: str = "", key: str = "") -> str:
    """Store a new key (a random one unless `key` is given) and return it: the only time it is seen in full."""
    if not name.strip():
        raise ValueError("a key needs a name")
    key = key or new_key()
    session.add(
        ApiKeyRow(
            name=name.strip()[:200],
            prefix=prefix_of(key),
            key_hash=digest(key),
            role=role.value,
            created_by=created_by,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return key


async def authenticate(session: AsyncSession, key: str) -> Principal | KeyProblem:
    row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest(key)))
    if row is None or not hmac.compare_digest(row.key_hash, digest(key)):
        return KeyProblem.UNKNOWN
    if row.revoked_at is not None:
        return KeyProblem.REVOKED
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now  # at most one write per key every few minutes, not one per request
    return Principal(row.id, row.name, row.prefix, Role(row.role))


async def principal_by_id(session: AsyncSession, key_id: int) -> Principal | None:
    row = await session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, row.name, row.prefix, Role(row.role))


async def list_keys(session: AsyncSession) -> list[ApiKeyRow]:
    return list(await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))


async def revoke_key(session: AsyncSession, ident: str) -> int:
    """Revoke keys by id, prefix or name; returns how many were revoked."""
    condition = ApiKeyRow.prefix == ident
    if ident.isdigit():
        condition = ApiKeyRow.id == int(ident)
    elif not ident.startswith(KEY_PREFIX):
        condition = ApiKeyRow.name == ident
    result = await session.execute(
        update(ApiKeyRow)
        .where(condition, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiKeyRow.id)
    )
    return len(result.all())


async def ensure_env_key(session: AsyncSession, key: str) -> None:
    """EMAILBOT_API_KEY is an admin key for as long as it is configured: stored (hashed) the first time."""
    if await session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.key_hash == digest(key))) is None:
        await create_key(session, ENV_KEY_NAME, Role.ADMIN, created_by="environment", key=key)


async def has_usable_admin(session: AsyncSession) -> bool:
    found = await session.scalar(
        select(ApiKeyRow.id).where(ApiKeyRow.role == Role.ADMIN.value, ApiKeyRow.revoked_at.is_(None)).limit(1)
    )
    return found is not None


async def bootstrap_admin(session: AsyncSession, data_dir: Path) -> str | None:
    """On a first run with no key at all, make an admin key so that someone can sign in.

    Returns the new key (to be printed once) or None when an admin key exists. The key is also written to a
    file only its owner can read, so it can be found again; deleting that file changes nothing in the database.
    """
    if await has_usable_admin(session):
        return None
    key = await create_key(session, BOOTSTRAP_NAME, Role.ADMIN, created_by="first run")
    write_private(data_dir / BOOTSTRAP_FILE, key + "\n")
    return key


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def local_admin_key(api_key: str | None, data_dir: Path) -> str | None:
    """The key local tools (`emailbot health`) use: EMAILBOT_API_KEY, else the first run's key file."""
    if api_key:
        return api_key
    path = data_dir / BOOTSTRAP_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def local_key_header(api_key: str | None, data_dir: Path) -> dict[str, str]:
    """The X-API-Key header local tools (health, maintenance, incident collection) send, or none."""
    key = local_admin_key(api_key, data_dir)
    return {"X-API-Key": key} if key else {}
