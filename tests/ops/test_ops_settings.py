"""The operations settings: the manual's threshold names, and a clear error naming a wrong variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emailbot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EMAILBOT_"):
            monkeypatch.delenv(name)


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAILBOT_ALERT_MAX_QUEUE_SIZE", "250")
    monkeypatch.setenv("EMAILBOT_ALERT_MIN_SUCCESS_RATE", "0.9")
    monkeypatch.setenv("EMAILBOT_ALERT_MAX_PROCESSING_TIME", "12.5")
    monkeypatch.setenv("EMAILBOT_ALERT_WEBHOOK_URLS", '["https://hooks.example/a", "http://127.0.0.1:9/b"]')
    monkeypatch.setenv("EMAILBOT_LOG_FORMAT", "json")
    settings = load_settings()
    assert (settings.alert_max_queue_size, settings.alert_min_success_rate) == (250, 0.9)
    assert settings.alert_max_processing_time == 12.5
    assert settings.alert_webhook_urls == ["https://hooks.example/a", "http://127.0.0.1:9/b"]
    assert settings.alert_cooldown_seconds == 300
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMAILBOT_ALERT_MIN_SUCCESS_RATE", "95"),
        ("EMAILBOT_ALERT_WEBHOOK_URLS", '["ftp://files.example/drop"]'),
        ("EMAILBOT_SECURITY_BUSINESS_HOURS", "[19, 7]"),
        ("EMAILBOT_LOG_FORMAT", "xml"),
        ("EMAILBOT_MONITOR_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_wrong_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()
