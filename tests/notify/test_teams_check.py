"""`emailbot teams login|test|logout` and `validations.teams`, against the M365 sandbox."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emailbot.cli import app
from emailbot.runtime import build_runtime
from emailbot.taxonomy import load_taxonomy
from tests.api_clients import admin_client
from tests.fakes.m365 import M365Sandbox
from tests.notify.test_teams_chat import teams_settings
from tests.runtime_fixtures import settings_for

runner = CliRunner()
TAXONOMY_MEMBERS = sorted({a for spec in load_taxonomy().categories.values() for a in spec.escalation_members})


@pytest.fixture
def teams_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox
) -> M365Sandbox:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": database_url,
        "LOCAL_MAILBOX_DIR": str(tmp_path / "mailbox"),
        "MODEL_DIR": str(tmp_path / "models"),
        "DATA_DIR": str(tmp_path / "var"),
    }.items():
        monkeypatch.setenv(f"EMAILBOT_{name}", value)
    for name, value in teams_settings(m365_sandbox).items():
        monkeypatch.setenv(f"EMAILBOT_{name.upper()}", json.dumps(value) if isinstance(value, list) else str(value))
    monkeypatch.setenv("EMAILBOT_ESCALATION_DEFAULT_MEMBERS", "[]")
    for address in TAXONOMY_MEMBERS:
        m365_sandbox.state.add_user(address)
    return m365_sandbox


def login(sandbox: M365Sandbox) -> str:
    """Runs `emailbot teams login` while an administrator approves the code shown."""

    def approve() -> None:
        sandbox.wait_for(sandbox.state.pending_device_codes, timeout=20)
        sandbox.state.approve_device_code()

    approver = threading.Thread(target=approve)
    approver.start()
    result = runner.invoke(app, ["teams", "login", "--timeout", "30"])
    approver.join()
    assert result.exit_code == 0, result.output
    return result.output


def steps(output: str) -> dict[str, dict[str, object]]:
    return {step["step"]: step for step in json.loads(output)["steps"]}


def test_login_then_a_dry_run_test_passes(teams_env: M365Sandbox) -> None:
    output = login(teams_env)
    assert "code" in output.lower()
    assert f"Signed in as {teams_env.state.config.service_account}" in output

    result = runner.invoke(app, ["teams", "test", "--json"])
    assert result.exit_code == 0, result.output
    found = steps(result.stdout)
    assert {name: step["status"] for name, step in found.items()} == {
        "permissions": "pass",
        "posting": "pass",
        "user_lookup": "pass",
        "chat_creation": "pass",
    }
    assert found["chat_creation"]["details"]["dry_run"] is True
    assert teams_env.state.chat_list() == []  # a dry run creates nothing

    table = runner.invoke(app, ["teams", "test"])
    assert "=== passed ===" in table.output


def test_create_chat_makes_a_real_test_chat(teams_env: M365Sandbox) -> None:
    login(teams_env)
    result = runner.invoke(app, ["teams", "test", "--create-chat", "--json"])
    assert result.exit_code == 0, result.output
    [chat] = teams_env.state.chat_list()
    assert chat.topic is not None
    assert chat.topic.endswith("emailbot-teams-test")
    assert len(chat.messages) == 1
    assert steps(result.stdout)["chat_creation"]["details"]["chat_id"] == chat.id


def test_missing_permissions_unknown_members_and_no_sign_in_fail(
    teams_env: M365Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams_env.state.set_app_permissions(["Mail.ReadWrite", "Mail.Send", "User.Read.All"])
    monkeypatch.setenv("EMAILBOT_ESCALATION_DEFAULT_MEMBERS", '["nobody@example.com"]')
    result = runner.invoke(app, ["teams", "test", "--json"])
    assert result.exit_code == 1
    found = steps(result.stdout)
    assert found["permissions"]["status"] == "fail"
    assert found["permissions"]["details"]["missing"] == ["Chat.Create", "ChatMember.ReadWrite.All"]
    assert found["posting"]["status"] == "fail"
    assert "emailbot teams login" in str(found["posting"]["message"])
    assert found["user_lookup"]["details"]["unknown"] == ["nobody@example.com"]


def test_logout_forgets_the_sign_in(teams_env: M365Sandbox) -> None:
    login(teams_env)
    assert runner.invoke(app, ["teams", "logout"]).exit_code == 0
    result = runner.invoke(app, ["teams", "test", "--json"])
    assert result.exit_code == 1
    assert steps(result.stdout)["posting"]["status"] == "fail"


def test_teams_commands_need_teams_chats_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMAILBOT_TEAMS_CHATS", raising=False)
    result = runner.invoke(app, ["teams", "test"])
    assert result.exit_code == 2
    assert "EMAILBOT_TEAMS_CHATS" in result.output


async def test_config_validation_reports_teams(tmp_path: Path, database_url: str, m365_sandbox: M365Sandbox) -> None:
    for address in TAXONOMY_MEMBERS:
        m365_sandbox.state.add_user(address)
    settings = settings_for(tmp_path, database_url, **teams_settings(m365_sandbox))
    runtime = build_runtime(settings)
    async with admin_client(runtime) as client:
        teams = (await client.get("/config/validation")).json()["validations"]["teams"]
        assert teams["status"] == "fail"  # nobody signed in to post
        assert "emailbot teams login" in teams["message"]
        assert teams["details"]["permissions"]["status"] == "pass"
        assert teams["details"]["user_lookup"]["unknown"] == [
            teams_settings(m365_sandbox)["escalation_default_members"][0]
        ]  # type: ignore[index]


async def test_config_validation_skips_teams_when_off(tmp_path: Path, database_url: str) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url))
    async with admin_client(runtime) as client:
        teams = (await client.get("/config/validation")).json()["validations"]["teams"]
    assert teams["status"] == "skipped"
