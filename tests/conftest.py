"""Shared fixtures: real databases (SQLite always, PostgreSQL unless a developer opts out), data paths.

PostgreSQL is never skipped silently: if it cannot be reached the tests that need it fail. A developer without
PostgreSQL can run `EMAILBOT_TEST_BACKENDS=sqlite pytest`; CI never sets that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from emailbot.store import crypto
from emailbot.store.db import Database
from emailbot.store.migrate import upgrade
from emailbot.store.tables import Base

pytest_plugins = [
    "tests.runtime_fixtures",
    "tests.api_clients",
    "tests.fakes.smtp",
    "tests.fakes.s3",
    "tests.fakes.openai_server",
    "tests.fakes.webhooks",
    "tests.fakes.m365",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get("EMAILBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("EMAILBOT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
# The suite tests routing, replies and the outbox as they were before earned autonomy: every category may auto-send
# unless a test asks for `earned` (tests/autonomy, the dashboard's browser test). Services started by the tests
# inherit it. A fresh install's default is `earned` (docs/autonomy.md).
os.environ.setdefault("EMAILBOT_AUTONOMY", "always")


@pytest.fixture(autouse=True)
def no_key_ring() -> Iterator[None]:
    """Every test starts and ends without an encryption key: the key ring is process-wide, whatever set it."""
    crypto.configure(None)
    yield
    crypto.configure(None)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """CLI commands configure logging with handlers bound to the test runner's streams; undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _postgres_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head, dropped at the end."""
    name = f"emailbot_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _postgres_url(name)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "emailbot.db"
        target.write_bytes(sqlite_template.read_bytes())
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await db.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()
