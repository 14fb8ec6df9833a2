"""Settings: the fixed names, their defaults, and one clear line naming the variable when a value is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emailbot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(__import__("os").environ):
        if name.startswith("EMAILBOT_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./var/emailbot.db"
    assert settings.mailbox == "local"
    assert settings.local_mailbox_dir == Path("./var/mailbox")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.threshold_auto, settings.threshold_suggest, settings.threshold_review) == (85, 60, 40)
    assert settings.poll_interval_seconds > 0


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("EMAILBOT_PORT=9001\nEMAILBOT_THRESHOLD_AUTO=90\n")
    monkeypatch.setenv("EMAILBOT_THRESHOLD_AUTO", "92")
    monkeypatch.setenv("EMAILBOT_DATABASE_URL", "postgresql://emailbot@db/emailbot")
    settings = load_settings()
    assert settings.port == 9001
    assert settings.threshold_auto == 92  # the environment wins over .env
    assert settings.database_url == "postgresql+asyncpg://emailbot@db/emailbot"


def test_secret_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("s3cret\n")
    monkeypatch.setenv("EMAILBOT_SMTP_PASSWORD_FILE", str(tmp_path / "smtp-password"))
    settings = load_settings()
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("EMAILBOT_THRESHOLD_AUTO", "high", "EMAILBOT_THRESHOLD_AUTO: Input should be a valid number"),
        ("EMAILBOT_THRESHOLD_REVIEW", "140", "EMAILBOT_THRESHOLD_REVIEW: Input should be less than or equal to 100"),
        ("EMAILBOT_THRESHOLD_SUGGEST", "95", "EMAILBOT_THRESHOLD_AUTO: thresholds must satisfy"),
        ("EMAILBOT_PORT", "0", "EMAILBOT_PORT: Input should be greater than or equal to 1"),
        ("EMAILBOT_MAILBOX", "exchange", "EMAILBOT_MAILBOX: Input should be 'local'"),
        ("EMAILBOT_DATABASE_URL", "mysql://x", "EMAILBOT_DATABASE_URL: expected a sqlite:/// or postgresql:// URL"),
        ("EMAILBOT_POLL_INTERVAL_SECONDS", "-1", "EMAILBOT_POLL_INTERVAL_SECONDS: Input should be greater than 0"),
        ("EMAILBOT_MODE", "dry-run", "EMAILBOT_MODE: Input should be 'live' or 'shadow'"),
        (
            "EMAILBOT_MAX_AUTO_REPLIES_PER_CONVERSATION",
            "-1",
            "EMAILBOT_MAX_AUTO_REPLIES_PER_CONVERSATION: Input should be",
        ),
        ("EMAILBOT_NOISE_THRESHOLD", "101", "EMAILBOT_NOISE_THRESHOLD: Input should be less than or equal to 100"),
        ("EMAILBOT_NOISE_FOLDER", "../Junk", "EMAILBOT_NOISE_FOLDER: a folder name or id, without '/'"),
        ("EMAILBOT_ESCALATION_MIN_CONFIDENCE", "-5", "EMAILBOT_ESCALATION_MIN_CONFIDENCE: Input should be greater"),
    ],
)
def test_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAILBOT_SMTP_PASSWORD_FILE", "/nonexistent/secret")
    with pytest.raises(SettingsError, match="^EMAILBOT_SMTP_PASSWORD_FILE: cannot read"):
        load_settings()


def test_wrong_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "EMAILBOT_THRESHOLD_AUTO": "abc", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "emailbot.cli", "run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: EMAILBOT_THRESHOLD_AUTO: Input should be a valid number, "
        "unable to parse string as a number (got 'abc')"
    ]
    assert not (tmp_path / "var").exists(), "nothing is created before the settings are valid"
