"""The smaller operations commands through the CLI: config backup, retention, pause and resume."""

from __future__ import annotations

import asyncio
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from emailbot.cli import app
from emailbot.runtime import Runtime
from emailbot.store import system_state
from tests.admin.conftest import OLD, ingest_emails, populate

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: Runtime) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "EMAILBOT_DATABASE_URL": runtime.settings.database_url,
        "EMAILBOT_DATA_DIR": str(runtime.settings.data_dir),
        "EMAILBOT_MODEL_DIR": str(runtime.settings.model_dir),
        "EMAILBOT_BACKUP_DIR": str(tmp_path / "backups"),
        "EMAILBOT_SMTP_PASSWORD": "relay-password-1",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def test_config_backup_holds_settings_taxonomy_templates_and_rules(runtime: Runtime, cli_env: Path) -> None:
    await populate(runtime)
    result = await invoke("backup", "config")
    assert result.exit_code == 0, result.output
    [archive] = (cli_env / "backups").glob("emailbot-config-*Z.tar.gz")
    with tarfile.open(archive, "r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    settings = json.loads(files["settings.json"])
    assert settings["EMAILBOT_SMTP_PASSWORD"] == "***"
    assert all(b"relay-password-1" not in data for data in files.values())
    assert [rule["name"] for rule in json.loads(files["rules.json"])] == ["vip"]
    assert b"[categories." in files["taxonomy.toml"]
    assert "templates/support.txt.j2" in files


async def test_retention_command_counts_on_a_dry_run_and_then_anonymizes(runtime: Runtime, cli_env: Path) -> None:
    await ingest_emails(runtime.db, [OLD, OLD], prefix="old")
    dry = await invoke("retention", "apply", "--days", "30", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) | {"cutoff": None} == {
        "mode": "anonymize",
        "cutoff": None,
        "dry_run": True,
        "due": 2,
        "done": 0,
        "batches": 0,
    }
    done = await invoke("retention", "apply", "--days", "30", "--json")
    assert json.loads(done.stdout)["done"] == 2
    unset = await invoke("retention", "apply")
    assert unset.exit_code == 2
    assert "EMAILBOT_RETENTION_DAYS" in unset.output


async def test_pause_and_resume_commands(runtime: Runtime, cli_env: Path) -> None:
    paused = await invoke("pause", "--reason", "disk replacement")
    assert paused.exit_code == 0, paused.output
    async with runtime.db.transaction() as session:
        state = await system_state.pause_state(session)
    assert state is not None
    assert state["reason"] == "disk replacement"
    processed = await invoke("process")
    assert "Processing is paused (disk replacement)" in processed.output
    resumed = await invoke("resume")
    assert resumed.exit_code == 0
    async with runtime.db.transaction() as session:
        assert await system_state.pause_state(session) is None
