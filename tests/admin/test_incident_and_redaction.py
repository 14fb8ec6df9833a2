"""The incident bundle holds logs, redacted settings, system state, alerts and errors; secrets never leave."""

from __future__ import annotations

import asyncio
import json
import tarfile
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import insert
from typer.testing import CliRunner

from emailbot.admin.common import REDACTED, redact_url, redacted_settings
from emailbot.cli import app
from emailbot.runtime import Runtime
from emailbot.settings import load_settings
from emailbot.store import work
from emailbot.store.tables import AlertRow, AuditLogRow
from tests.admin.conftest import OLD, ingest_emails

runner = CliRunner()


def test_every_secret_setting_and_url_password_is_redacted() -> None:
    settings = load_settings(
        database_url="postgresql://emailbot:hunter2@db:5432/emailbot",
        smtp_password=SecretStr("smtp-pass"),
        backup_s3_access_key_id="AKID",
        backup_s3_secret_access_key=SecretStr("s3-secret"),
    )
    shown = redacted_settings(settings)
    text = json.dumps(shown)
    for secret in ("hunter2", "smtp-pass", "s3-secret", "AKID"):
        assert secret not in text
    assert shown["EMAILBOT_DATABASE_URL"] == f"postgresql+asyncpg://emailbot:{REDACTED}@db:5432/emailbot"
    assert shown["EMAILBOT_SMTP_PASSWORD"] == REDACTED
    assert shown["EMAILBOT_ENCRYPTION_KEY"] is None  # unset stays visibly unset
    assert set(shown) == {f"EMAILBOT_{name.upper()}" for name in type(settings).model_fields}
    assert redact_url("https://user:pw@hooks.example/x") == f"https://user:{REDACTED}@hooks.example/x"


async def test_incident_collect_bundles_the_evidence(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failed = (await ingest_emails(runtime.db, [OLD], prefix="f"))[0]
    async with runtime.db.transaction() as session:
        await work.record_failure(session, failed, "SMTP 554 rejected", retry_in=None)
        await session.execute(insert(AuditLogRow), [{"actor": "ops", "action": "rule.create", "target": "rule 1"}])
        await session.execute(
            insert(AlertRow), [{"key": "Queue:high", "severity": "warning", "component": "Queue", "message": "high"}]
        )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "emailbot.log").write_text("2026-11-24 ERROR emailbot.jobs: process failed\n")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "EMAILBOT_DATABASE_URL": runtime.settings.database_url,
        "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
        "EMAILBOT_LOG_DIR": str(logs),
        "EMAILBOT_SMTP_PASSWORD": "hunter2-smtp",
    }.items():
        monkeypatch.setenv(name, value)

    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["incident", "collect", "--type", "outage", "--severity", "high", "--url", "http://127.0.0.1:9"],
    )

    assert result.exit_code == 0, result.output
    bundle = Path(result.stdout.strip())
    assert bundle.name.startswith("incident-")
    assert bundle.suffixes[-2:] == [".tar", ".gz"]
    with tarfile.open(bundle, "r:gz") as tar:
        files = {member.name: tar.extractfile(member).read() for member in tar.getmembers()}  # type: ignore[union-attr]
    assert set(files) == {
        "incident.json",
        "settings.json",
        "system.json",
        "alerts.json",
        "audit.json",
        "errors.json",
        "logs/emailbot.log",
    }
    assert all(b"hunter2-smtp" not in data for data in files.values())
    assert json.loads(files["incident.json"])["severity"] == "high"
    system = json.loads(files["system.json"])
    assert "unreachable" in system["service"]
    assert system["schema_revision"]
    assert system["host"]["memory"]["total"] > 0
    assert system["host"]["processes"]
    assert [row["message"] for row in json.loads(files["alerts.json"])["rows"]] == ["high"]
    assert [row["action"] for row in json.loads(files["audit.json"])["rows"]] == ["rule.create"]
    errors = json.loads(files["errors.json"])["rows"]
    assert [(row["email_id"], row["error"]) for row in errors] == [(failed, "SMTP 554 rejected")]
    assert b"process failed" in files["logs/emailbot.log"]


async def test_config_validation_names_an_unusable_backup_dir(tmp_path: Path, database_url: str) -> None:
    from emailbot.admin.validation import validate_operations
    from emailbot.runtime import build_runtime
    from tests.runtime_fixtures import settings_for

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    runtime = build_runtime(settings_for(tmp_path, database_url, backup_dir=blocker / "backups"))
    try:
        result = await validate_operations(runtime)
    finally:
        await runtime.close()
    assert result.status == "fail"
    assert "EMAILBOT_BACKUP_DIR" in result.message

    fine = build_runtime(settings_for(tmp_path, database_url, backup_dir=tmp_path / "new" / "backups"))
    try:
        assert (await validate_operations(fine)).status == "pass"
    finally:
        await fine.close()
