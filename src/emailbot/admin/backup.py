"""`emailbot backup`: a consistent, compressed, self-describing copy of the database.

A backup is a gzip-compressed tar named `emailbot-YYYYmmddTHHMMSSZ.tar.gz` holding `manifest.json` (format,
schema revision, row count and checksum per table, the payload's sha256) and the payload: `database.pgdump`
(`pg_dump --format=custom`) or `database.sqlite` (SQLite's online backup API). The manifest's counts and checksums
are taken from the very snapshot that was dumped (an exported PostgreSQL snapshot; the SQLite copy itself), so
`--verify` and `restore` can prove that what comes back is what was saved.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from emailbot import __version__
from emailbot.admin.common import (
    OpsError,
    TableStats,
    libpq_args,
    parse_timestamp,
    require_tool,
    run_tool,
    sha256_file,
    sqlite_path,
    table_stats,
    timestamp,
    tool_major_version,
    with_database,
)
from emailbot.settings import Settings
from emailbot.store.db import create_engine

FORMAT = "emailbot-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"postgresql": "database.pgdump", "sqlite": "database.sqlite"}
PREFIX = "emailbot-"
SUFFIX = ".tar.gz"


class NotABackup(OpsError):
    """The file is not an EmailBot backup, or it is damaged."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    removed: list[str] = field(default_factory=list)
    uploaded_to: str | None = None
    verified: bool = False


@dataclass
class Backup:
    """An opened backup file whose manifest and payload checksum have been checked."""

    path: Path
    manifest: dict[str, Any]

    @property
    def backend(self) -> str:
        return str(self.manifest["backend"])

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest["tables"])

    def check_payload(self) -> None:
        """Raises NotABackup unless the payload inside matches the manifest's checksum (read, not extracted)."""
        digest = hashlib.sha256()
        with tarfile.open(self.path, "r:gz") as tar:
            source = tar.extractfile(self.manifest["payload"]["name"])
            if source is None:
                raise NotABackup(f"{self.path}: the payload is missing")
            while chunk := source.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != self.manifest["payload"]["sha256"]:
            raise NotABackup(f"{self.path}: the payload's checksum does not match the manifest (damaged file)")

    @contextmanager
    def extracted_payload(self) -> Iterator[Path]:
        """The payload in a temporary folder, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="emailbot-restore-") as folder, tarfile.open(self.path, "r:gz") as tar:
            name = self.manifest["payload"]["name"]
            source = tar.extractfile(name)
            if source is None:
                raise NotABackup(f"{self.path}: the payload {name} is missing")
            target = Path(folder) / name
            with target.open("wb") as handle:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
            if sha256_file(target) != self.manifest["payload"]["sha256"]:
                raise NotABackup(f"{self.path}: the payload's checksum does not match the manifest (damaged file)")
            yield target


def open_backup(path: Path) -> Backup:
    """Check that `path` is an intact EmailBot backup; raises NotABackup with the reason otherwise."""
    if not path.is_file():
        raise NotABackup(f"{path}: no such file")
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise NotABackup(f"{path}: no manifest inside: not an EmailBot backup")
            manifest = json.loads(member.read())
            payload = manifest.get("payload", {}).get("name")
            if payload not in PAYLOADS.values() or payload not in tar.getnames():
                raise NotABackup(f"{path}: the manifest names no payload that the file holds")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise NotABackup(f"{path}: not an EmailBot backup (not a readable .tar.gz: {exc})") from None
    except KeyError:
        raise NotABackup(f"{path}: no manifest inside: not an EmailBot backup") from None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise NotABackup(f"{path}: the manifest is not valid JSON: not an EmailBot backup") from None
    if manifest.get("format") != FORMAT:
        raise NotABackup(f"{path}: not an EmailBot backup (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise NotABackup(f"{path}: backup format version {manifest.get('format_version')} is not supported")
    if manifest.get("backend") not in PAYLOADS or not isinstance(manifest.get("tables"), dict):
        raise NotABackup(f"{path}: the manifest is incomplete")
    return Backup(path, manifest)


async def create_backup(settings: Settings, *, directory: Path | None = None) -> BackupResult:
    """Write a new backup into EMAILBOT_BACKUP_DIR (or `directory`) and return its path and manifest."""
    target_dir = directory or settings.backup_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{timestamp()}{SUFFIX}"
    target = target_dir / name
    if target.exists():  # two backups within one second: keep both
        target = target_dir / f"{PREFIX}{timestamp()}-{uuid.uuid4().hex[:6]}{SUFFIX}"
    with tempfile.TemporaryDirectory(prefix="emailbot-backup-", dir=_scratch_dir(settings)) as folder:
        scratch = Path(folder)
        if settings.is_sqlite:
            payload, stats, revision = await _dump_sqlite(settings.database_url, scratch)
        else:
            payload, stats, revision = await _dump_postgres(settings.database_url, scratch)
        manifest = _manifest(settings, payload, stats, revision)
        partial = target.with_name(target.name + ".partial")
        _write_archive(partial, manifest, payload)
        partial.replace(target)
    return BackupResult(path=target, manifest=manifest)


def _scratch_dir(settings: Settings) -> Path:
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _manifest(settings: Settings, payload: Path, stats: dict[str, TableStats], revision: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "emailbot_version": __version__,
        "backend": "sqlite" if settings.is_sqlite else "postgresql",
        "schema_revision": revision,
        "tables": {name: table.as_dict() for name, table in stats.items()},
        "payload": {"name": payload.name, "sha256": sha256_file(payload), "bytes": payload.stat().st_size},
    }


def _write_archive(path: Path, manifest: dict[str, Any], payload: Path) -> None:
    data = json.dumps(manifest, indent=2).encode()
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mtime = int(datetime.now(UTC).timestamp())
        tar.addfile(info, io.BytesIO(data))
        tar.add(payload, arcname=payload.name)


async def _snapshot_stats(connection: AsyncConnection) -> tuple[dict[str, TableStats], str | None]:
    stats = await connection.run_sync(table_stats)
    revision = (
        await connection.scalar(text("SELECT version_num FROM alembic_version")) if "alembic_version" in stats else None
    )
    return stats, revision


async def _dump_sqlite(database_url: str, scratch: Path) -> tuple[Path, dict[str, TableStats], str | None]:
    source = sqlite_path(database_url)
    if not source.is_file():
        raise OpsError(f"the SQLite database {source} does not exist")
    payload = scratch / PAYLOADS["sqlite"]
    copy_sqlite(source, payload)
    stats, revision = await sqlite_stats(payload)
    return payload, stats, revision


def copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy even while EmailBot writes (WAL readers are not blocked)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


async def sqlite_stats(path: Path) -> tuple[dict[str, TableStats], str | None]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            return await _snapshot_stats(connection)
    finally:
        await engine.dispose()


async def _dump_postgres(database_url: str, scratch: Path) -> tuple[Path, dict[str, TableStats], str | None]:
    pg_dump = require_tool("pg_dump")
    payload = scratch / PAYLOADS["postgresql"]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await _check_client_version(connection, "pg_dump")
            await connection.rollback()
            await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                # One snapshot for the dump and for the manifest: the counts describe exactly what was dumped.
                snapshot = await connection.scalar(text("SELECT pg_export_snapshot()"))
                stats, revision = await _snapshot_stats(connection)
                args, env = libpq_args(database_url)
                command = [pg_dump, "--format=custom", "--compress=0", "--no-owner", "--no-privileges"]
                run_tool([*command, f"--snapshot={snapshot}", "--file", str(payload), *args], env, "pg_dump")
    finally:
        await engine.dispose()
    return payload, stats, revision


async def _check_client_version(connection: AsyncConnection, tool: str) -> None:
    server = int(str(await connection.scalar(text("SHOW server_version_num")))) // 10000
    client = tool_major_version(tool)
    if client < server:
        raise OpsError(
            f"{tool} {client} cannot work with PostgreSQL server {server}: install the PostgreSQL {server} client tools"
        )


async def postgres_stats(database_url: str) -> tuple[dict[str, TableStats], str | None]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await _snapshot_stats(connection)
    finally:
        await engine.dispose()


def compare_stats(expected: dict[str, dict[str, Any]], actual: dict[str, TableStats]) -> list[str]:
    """Differences between a manifest's tables and a database's: empty when every table matches."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None or got is None:
            problems.append(f"table {name}: {'missing from the backup' if want is None else 'missing after restore'}")
        elif want["rows"] != got.rows:
            problems.append(f"table {name}: {want['rows']} rows in the backup, {got.rows} restored")
        elif want["sha256"] != got.checksum:
            problems.append(f"table {name}: same row count but different content")
    return problems


async def verify_backup(settings: Settings, backup: Backup) -> list[str]:
    """Restore the backup into a scratch database (a temporary SQLite file or a new PostgreSQL database), compare
    every table with the manifest, and remove the scratch database. Returns the differences found."""
    with backup.extracted_payload() as payload:
        if backup.backend == "sqlite":
            stats, _ = await sqlite_stats(payload)
            return compare_stats(backup.tables, stats)
        return await _verify_postgres(settings.database_url, payload, backup.tables)


async def _verify_postgres(database_url: str, payload: Path, expected: dict[str, dict[str, Any]]) -> list[str]:
    pg_restore = require_tool("pg_restore")
    scratch_name = f"emailbot_verify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url)
    try:
        async with admin.connect() as connection:
            await _check_client_version(connection, "pg_restore")
            await connection.rollback()
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f'CREATE DATABASE "{scratch_name}"'))
        scratch_url = with_database(database_url, scratch_name)
        try:
            args, env = libpq_args(scratch_url)
            command = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", *args, str(payload)]
            run_tool(command, env, "pg_restore into the scratch database")
            stats, _ = await postgres_stats(scratch_url)
            return compare_stats(expected, stats)
        finally:
            async with admin.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def prune_backups(
    directory: Path, keep_days: int, *, keep: Path | None = None, now: datetime | None = None
) -> list[str]:
    """Delete backups (database and config) older than `keep_days`, judged by the time in their name; the newest
    one, `keep`, is never deleted, whatever its age."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.glob(f"{PREFIX}*{SUFFIX}")):
        created = _created_at(path.name)
        if created is not None and created < cutoff and path != keep:
            path.unlink()
            removed.append(path.name)
    return removed


def _created_at(name: str) -> datetime | None:
    stem = name.removesuffix(SUFFIX).removeprefix(PREFIX).removeprefix("config-")
    return parse_timestamp(stem.split("-", 1)[0])
