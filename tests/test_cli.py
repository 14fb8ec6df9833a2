"""The `emailbot` commands an operator runs, in process through Typer's runner, on real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emailbot.cli import app
from emailbot.demo import DEMO_MAIL, write_demo_mail

runner = CliRunner()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("EMAILBOT_LOCAL_MAILBOX_DIR", str(tmp_path / "mailbox"))
    monkeypatch.setenv("EMAILBOT_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("EMAILBOT_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def test_process_once_then_status(environment: Path) -> None:
    write_demo_mail(environment / "mailbox")
    processed = runner.invoke(app, ["process"])
    assert processed.exit_code == 0, processed.output
    assert f"Stored {len(DEMO_MAIL)} new emails; processed {len(DEMO_MAIL)}." in processed.output
    again = runner.invoke(app, ["process"])
    assert "Stored 0 new emails; processed 0." in again.output

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    numbers = json.loads(status.stdout)
    assert numbers["total_processed"] == len(DEMO_MAIL)
    assert numbers["emails_processed_today"] == len(DEMO_MAIL)
    assert numbers["current_queue_size"] == 0
    assert numbers["success_rate"] == 1.0

    table = runner.invoke(app, ["status"])
    assert "total processed" in table.output


def test_db_upgrade_and_check(environment: Path) -> None:
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    checked = runner.invoke(app, ["db", "check"])
    assert checked.exit_code == 0, checked.output
    assert "agree" in checked.output


def test_keys_create_list_revoke(environment: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--name", "Ann", "--role", "operator"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("eb_")
    assert len(key) > 40
    assert "not shown again" in created.stderr
    listing = runner.invoke(app, ["keys", "list"]).stdout
    assert key[:11] in listing
    assert key not in listing
    assert "operator" in listing
    assert "active" in listing
    assert runner.invoke(app, ["keys", "create", "--name", "Bob", "--role", "root"]).exit_code == 2
    assert runner.invoke(app, ["keys", "revoke", key[:11]]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout
    assert runner.invoke(app, ["keys", "revoke", key[:11]]).exit_code == 1
