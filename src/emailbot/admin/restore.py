"""`emailbot restore FILE`: pause processing, put a backup back, migrate it to the current schema, resume.

Nothing is touched until the file has proved to be an intact EmailBot backup for this kind of database. While the
restore runs, the pause flag in the database keeps every engine (this host's and others) from ingesting or claiming
mail; in-flight batches are allowed to finish first. A SQLite backup is restored and migrated in a scratch file and
then copied over the live database in one step (the online backup API); a PostgreSQL backup is restored in a
single transaction that also re-sets the pause flag, so no engine ever sees a half-restored database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select

from emailbot.admin.backup import (
    Backup,
    compare_stats,
    copy_sqlite,
    open_backup,
    postgres_stats,
    sqlite_stats,
)
from emailbot.admin.common import OpsError, libpq_args, require_tool, run_tool, sqlite_path
from emailbot.settings import Settings
from emailbot.store import system_state
from emailbot.store.db import Database
from emailbot.store.migrate import upgrade
from emailbot.store.tables import ProcessingResultRow, utcnow
from emailbot.store.work import FINAL

Say = Callable[[str], None]


@dataclass
class RestoreResult:
    path: Path
    backend: str
    schema_revision_before: str | None
    rows: dict[str, int] = field(default_factory=dict)
    kept_paused: bool = False


async def restore_backup(
    settings: Settings, path: Path, *, say: Say = lambda _: None, settle_seconds: float = 2.0
) -> RestoreResult:
    backup = open_backup(path)
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    if backup.backend != backend:
        raise OpsError(f"{path} is a {backup.backend} backup but EMAILBOT_DATABASE_URL is a {backend} database")
    with backup.extracted_payload() as payload:
        previous = await _pause(settings, say)
        replaced = False
        try:
            await _wait_for_in_flight(settings, say, settle_seconds)
            say("Restoring…")
            if backend == "sqlite":
                await _restore_sqlite(settings, backup, payload, previous)
                replaced = True
            else:
                await _replay_postgres(settings, payload)
                replaced = True
                await _check_postgres(settings, backup)
                say("Migrating to the current schema…")
                await asyncio.to_thread(upgrade, settings.database_url)
        except Exception as exc:
            if not replaced:  # nothing was changed: processing goes on as before
                await _set_pause(settings.database_url, previous)
                raise
            raise OpsError(f"{exc} (processing stays paused: check the database, then `emailbot resume`)") from exc
        if previous is None:
            await _set_pause(settings.database_url, None)
            say("Processing resumed.")
        else:
            await _set_pause(settings.database_url, previous)
            say(f"Processing stays paused, as it was before the restore ({previous.get('reason')}).")
    return RestoreResult(
        path=path,
        backend=backend,
        schema_revision_before=backup.manifest.get("schema_revision"),
        rows={name: int(table["rows"]) for name, table in backup.tables.items()},
        kept_paused=previous is not None,
    )


async def _pause(settings: Settings, say: Say) -> dict[str, Any] | None:
    """Set the pause flag on the live database (if it has the table yet); returns an earlier pause to keep."""
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            if not await connection.run_sync(lambda c: inspect(c).has_table("system_state")):
                return None
            previous = await system_state.pause_state(session)
            await system_state.pause_processing(session, "restore in progress")
    finally:
        await db.dispose()
    say("Processing paused.")
    return previous


async def _set_pause(database_url: str, state: dict[str, Any] | None) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            if state is None:
                await system_state.resume_processing(session)
            else:
                await system_state.put(session, system_state.PAUSE_KEY, state)
    finally:
        await db.dispose()


async def _wait_for_in_flight(settings: Settings, say: Say, settle_seconds: float) -> None:
    """Engines see the flag within their pause-check interval; batches already claimed hold a lease until done."""
    await asyncio.sleep(settle_seconds)
    deadline = time.monotonic() + settings.lease_seconds
    db = Database(settings.database_url)
    try:
        while True:
            leased = await _leased_emails(db)
            if leased == 0:
                return
            if time.monotonic() > deadline:
                raise OpsError(f"{leased} emails are still being processed after {settings.lease_seconds:.0f} s")
            say(f"Waiting for {leased} emails in flight…")
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def _leased_emails(db: Database) -> int:
    async with db.transaction() as session:
        connection = await session.connection()
        if not await connection.run_sync(lambda c: inspect(c).has_table("processing_results")):
            return 0
        count = await session.scalar(
            select(func.count())
            .select_from(ProcessingResultRow)
            .where(ProcessingResultRow.lease_until > utcnow(), ProcessingResultRow.status.not_in(FINAL))
        )
    return int(count or 0)


async def _restore_sqlite(settings: Settings, backup: Backup, payload: Path, previous: dict[str, Any] | None) -> None:
    stats, _ = await sqlite_stats(payload)
    if problems := compare_stats(backup.tables, stats):
        raise OpsError("the backup does not match its manifest: " + "; ".join(problems))
    scratch_url = f"sqlite+aiosqlite:///{payload}"
    await asyncio.to_thread(upgrade, scratch_url)
    # The restored copy carries the pause flag, so engines stay paused until the restore says otherwise.
    await _set_pause(scratch_url, previous or {"reason": "restore in progress", "since": utcnow().isoformat()})
    live = sqlite_path(settings.database_url)
    live.parent.mkdir(parents=True, exist_ok=True)
    copy_sqlite(payload, live)


async def _replay_postgres(settings: Settings, payload: Path) -> None:
    """Replace the database's content with the dump in one transaction: on any error nothing has changed."""
    pg_restore, psql = require_tool("pg_restore"), require_tool("psql")
    script = payload.with_suffix(".sql")
    run_tool([pg_restore, "--no-owner", "--no-privileges", "--file", str(script), str(payload)], {}, "pg_restore")
    args, env = libpq_args(settings.database_url)
    # Dropping the schema (not only the dumped tables, as --clean would) also removes tables that a newer schema
    # added, so the migrations that follow start from exactly the backup's schema. The pause flag is set again in
    # the same transaction, so no engine ever works on the restored data before it has been migrated.
    run_tool(
        [
            psql,
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            *args,
            "--command=DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;",
            f"--file={script}",
            f"--command={_PAUSE_SQL}",
        ],
        env,
        "restoring the PostgreSQL database",
    )


async def _check_postgres(settings: Settings, backup: Backup) -> None:
    stats, _ = await postgres_stats(settings.database_url)
    stats.pop("system_state", None)
    expected = {name: table for name, table in backup.tables.items() if name != "system_state"}
    if problems := compare_stats(expected, stats):
        raise OpsError("the restored database does not match the backup's manifest: " + "; ".join(problems))


_PAUSE_SQL = """DO $$ BEGIN
IF to_regclass('public.system_state') IS NOT NULL THEN
  INSERT INTO public.system_state (key, value, updated_at)
  VALUES ('processing_paused', '{"reason": "restore in progress"}', now())
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;
END IF; END $$;"""
