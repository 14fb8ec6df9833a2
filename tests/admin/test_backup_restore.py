"""Backup → wipe → restore on real SQLite and PostgreSQL gives back every row; broken or foreign files are refused."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import delete, func, select, text
from typer.testing import CliRunner

from emailbot.admin.backup import NotABackup, create_backup, open_backup, prune_backups, verify_backup
from emailbot.admin.common import OpsError
from emailbot.admin.restore import restore_backup
from emailbot.cli import app
from emailbot.runtime import Runtime
from emailbot.store import system_state
from emailbot.store.db import Database
from emailbot.store.migrate import upgrade
from emailbot.store.tables import Base, EmailRow
from tests.admin.conftest import all_rows, populate
from tests.fakes.s3 import FakeS3
from tests.runtime_fixtures import settings_for

runner = CliRunner()


async def invoke(args: list[str]) -> Result:
    """The command in a thread of its own: it runs its own event loop, as it does from a shell."""
    return await asyncio.to_thread(runner.invoke, app, args)


async def _wipe(db: Database) -> None:
    async with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))


async def test_backup_wipe_restore_gives_back_every_row(runtime: Runtime) -> None:
    await populate(runtime)
    before = await all_rows(runtime.db)
    assert len(before["emails"]) >= 5
    assert before["side_effects"]
    assert before["classifications"]
    assert before["processing_rules"]

    backup = await create_backup(runtime.settings)
    assert backup.path.name.startswith("emailbot-")
    assert backup.path.name.endswith("Z.tar.gz")
    assert backup.manifest["tables"]["emails"]["rows"] == len(before["emails"])
    await _wipe(runtime.db)
    assert (await all_rows(runtime.db))["emails"] == []

    result = await restore_backup(runtime.settings, backup.path, settle_seconds=0)

    after = await all_rows(runtime.db)
    assert after == before
    assert result.rows["emails"] == len(before["emails"])
    async with runtime.db.transaction() as session:
        assert await system_state.pause_state(session) is None


async def test_verify_restores_into_a_scratch_database_and_catches_a_wrong_manifest(
    runtime: Runtime, tmp_path: Path
) -> None:
    await populate(runtime)
    backup = await create_backup(runtime.settings)
    assert await verify_backup(runtime.settings, open_backup(backup.path)) == []

    tampered = tmp_path / "tampered.tar.gz"
    manifest = dict(backup.manifest)
    manifest["tables"] = {**manifest["tables"], "emails": {**manifest["tables"]["emails"], "rows": 999}}
    _rewrite(backup.path, tampered, manifest)
    problems = await verify_backup(runtime.settings, open_backup(tampered))
    assert problems == [f"table emails: 999 rows in the backup, {backup.manifest['tables']['emails']['rows']} restored"]


def _rewrite(source: Path, target: Path, manifest: dict[str, object], payload: bytes | None = None) -> None:
    with tarfile.open(source, "r:gz") as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps(manifest).encode()
            elif payload is not None:
                data = payload
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: Runtime) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "EMAILBOT_DATABASE_URL": runtime.settings.database_url,
        "EMAILBOT_LOCAL_MAILBOX_DIR": str(tmp_path / "mailbox"),
        "EMAILBOT_MODEL_DIR": str(tmp_path / "models"),
        "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
        "EMAILBOT_BACKUP_DIR": str(tmp_path / "backups"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


async def _email_count(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(EmailRow)) or 0)


async def test_restore_refuses_what_is_not_a_backup_and_touches_nothing(runtime: Runtime, cli_env: Path) -> None:
    await populate(runtime)
    emails = await _email_count(runtime.db)
    good = (await create_backup(runtime.settings)).path
    not_gzip = cli_env / "notes.tar.gz"
    not_gzip.write_text("just some text")
    no_manifest = cli_env / "other.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        tar.add(not_gzip, arcname="notes.txt")
    damaged = cli_env / "damaged.tar.gz"
    _rewrite(good, damaged, open_backup(good).manifest, payload=b"not the database")

    for path, reason in (
        (not_gzip, "not an EmailBot backup"),
        (no_manifest, "no manifest inside"),
        (damaged, "checksum does not match"),
        (cli_env / "missing.tar.gz", "no such file"),
    ):
        result = await invoke(["restore", "--yes", str(path)])
        assert result.exit_code == 2, result.output
        assert reason in result.output

    assert await _email_count(runtime.db) == emails
    async with runtime.db.transaction() as session:
        assert await system_state.pause_state(session) is None


async def test_backup_command_verifies_and_restore_command_round_trips(runtime: Runtime, cli_env: Path) -> None:
    await populate(runtime)
    before = await all_rows(runtime.db)
    made = await invoke(["backup", "--verify", "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert report["verified"].startswith("yes")
    assert report["emails"] == len(before["emails"])
    await _wipe(runtime.db)

    restored = await invoke(["restore", "--yes", report["backup"]])
    assert restored.exit_code == 0, restored.output
    assert "Processing resumed." in restored.output
    assert await all_rows(runtime.db) == before


async def test_restore_migrates_an_older_backup_to_the_current_schema(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    await _to_thread(upgrade, f"sqlite+aiosqlite:///{old}", "a36b14428f87")
    old_settings = settings_for(tmp_path, f"sqlite+aiosqlite:///{old}")
    backup = await create_backup(old_settings)
    assert backup.manifest["schema_revision"] == "a36b14428f87"
    assert "system_state" not in backup.manifest["tables"]

    live = settings_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    await _to_thread(upgrade, live.database_url)
    await restore_backup(live, backup.path, settle_seconds=0)

    db = Database(live.database_url)
    try:
        async with db.transaction() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
            assert await system_state.pause_state(session) is None
    finally:
        await db.dispose()
    assert revision != "a36b14428f87"


async def _to_thread(function: object, *args: object) -> None:
    await asyncio.to_thread(function, *args)  # type: ignore[arg-type]


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_a_backup_of_the_other_engine_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    other = (
        "postgresql+asyncpg://u@127.0.0.1/x" if runtime.settings.is_sqlite else f"sqlite+aiosqlite:///{tmp_path}/x.db"
    )
    backup = await create_backup(runtime.settings)
    with pytest.raises(Exception, match="backup but EMAILBOT_DATABASE_URL is a"):
        await restore_backup(settings_for(tmp_path, other), backup.path, settle_seconds=0)


def test_old_backups_are_pruned_by_the_time_in_their_name(tmp_path: Path) -> None:
    now = datetime(2026, 11, 24, 3, tzinfo=UTC)
    names = {days: f"emailbot-{(now - timedelta(days=days)):%Y%m%dT%H%M%SZ}.tar.gz" for days in (0, 5, 29, 31, 90)}
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f"emailbot-config-{(now - timedelta(days=40)):%Y%m%dT%H%M%SZ}.tar.gz").write_bytes(b"x")
    (tmp_path / "unrelated-20000101T000000Z.tar.gz").write_bytes(b"x")

    removed = prune_backups(tmp_path, 30, keep=tmp_path / names[90], now=now)

    assert sorted(removed) == sorted([names[31], f"emailbot-config-{(now - timedelta(days=40)):%Y%m%dT%H%M%SZ}.tar.gz"])
    assert (tmp_path / names[90]).exists()  # the one just made is never removed
    assert (tmp_path / "unrelated-20000101T000000Z.tar.gz").exists()


def test_open_backup_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = json.dumps({"format": "something-else"}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(NotABackup, match="no payload"):
        open_backup(path)


@SQLITE_ONLY
async def test_backup_is_uploaded_to_s3_compatible_storage(
    runtime: Runtime, cli_env: Path, monkeypatch: pytest.MonkeyPatch, fake_s3: FakeS3
) -> None:
    await populate(runtime)
    monkeypatch.setenv("EMAILBOT_BACKUP_S3_BUCKET", "ops-backups")
    monkeypatch.setenv("EMAILBOT_BACKUP_S3_ENDPOINT_URL", fake_s3.url)
    monkeypatch.setenv("EMAILBOT_BACKUP_S3_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("EMAILBOT_BACKUP_S3_SECRET_ACCESS_KEY", "not-a-real-secret")
    made = await invoke(["backup", "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    name = Path(report["backup"]).name
    assert report["uploaded_to"] == f"s3://ops-backups/database/{name}"
    stored = fake_s3.objects[f"/ops-backups/database/{name}"]
    assert stored.body == Path(report["backup"]).read_bytes()
    assert stored.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")


async def test_a_backup_that_contradicts_its_manifest_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    await populate(runtime)
    before = await all_rows(runtime.db)
    backup = await create_backup(runtime.settings)
    lying = tmp_path / "lying.tar.gz"
    manifest = dict(backup.manifest)
    manifest["tables"] = {**manifest["tables"], "emails": {**manifest["tables"]["emails"], "rows": 1}}
    _rewrite(backup.path, lying, manifest)

    with pytest.raises(OpsError, match="table emails: 1 rows in the backup") as error:
        await restore_backup(runtime.settings, lying, settle_seconds=0)

    async with runtime.db.transaction() as session:
        pause = await system_state.pause_state(session)
    if runtime.settings.is_sqlite:
        # Checked in the scratch copy before the swap: the live database and processing are as they were.
        assert pause is None
        assert await all_rows(runtime.db) == before
    else:
        # Checked after the one-transaction replay: the data is replaced, so processing stays paused for a person.
        assert pause == {"reason": "restore in progress"}
        assert "processing stays paused" in str(error.value)
