"""Fresh, migrated databases for one scenario each, removed afterwards.

Each scenario gets its own empty database so that no run reads another's rows or indexes (a warm, bigger table
would make the second scenario slower for reasons unrelated to the code under test).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from emailbot.store.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get("EMAILBOT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def fresh_database(backend: str, folder: Path, label: str) -> Iterator[str]:
    """Yield the async URL of a new, migrated database; SQLite is a file in `folder`, PostgreSQL a new database."""
    if backend == "sqlite":
        path = folder / f"{label}.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    name = f"emailbot_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
        upgrade(url)
        asyncio.run(_admin("CHECKPOINT"))  # start clean: no dirty pages from an earlier scenario flushed mid-run
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_version() -> str:
    return asyncio.run(_fetch("SHOW server_version"))


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch(sql: str) -> str:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        return str(await connection.fetchval(sql))
    finally:
        await connection.close()
