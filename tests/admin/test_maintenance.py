"""`emailbot maintenance` against the real API served on loopback: every step reported, a failed step fails the run."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from emailbot.admin.maintenance import SCHEDULES, STEPS, Context, run_step
from emailbot.cli import app
from emailbot.runtime import Runtime
from tests.fakes.served_app import served_app

runner = CliRunner()
DAY = 86400
API_KEY = "maintenance-test-admin-key"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: Runtime) -> Path:
    monkeypatch.chdir(tmp_path)
    settings = runtime.settings
    for name, value in {
        "EMAILBOT_DATABASE_URL": settings.database_url,
        "EMAILBOT_LOCAL_MAILBOX_DIR": str(settings.local_mailbox_dir),
        "EMAILBOT_MODEL_DIR": str(settings.model_dir),
        "EMAILBOT_DATA_DIR": str(settings.data_dir),
        "EMAILBOT_BACKUP_DIR": str(tmp_path / "backups"),
        "EMAILBOT_LOG_DIR": str(tmp_path / "logs"),
        "EMAILBOT_API_KEY": API_KEY,  # the service checks keys; maintenance signs in with the local admin key
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def _aged(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment))
    return path


async def test_daily_reports_every_step_and_cleans_up(runtime: Runtime, cli_env: Path) -> None:
    stale_tmp = _aged(Path(runtime.settings.data_dir) / "tmp" / "old-scratch", 2)
    fresh_tmp = _aged(Path(runtime.settings.data_dir) / "tmp" / "new-scratch", 0)
    stale_log = _aged(cli_env / "logs" / "emailbot.log.2026-11-01", 10)
    fresh_log = _aged(cli_env / "logs" / "emailbot.log", 0)

    with served_app(runtime.settings.model_copy(update={"api_key": SecretStr(API_KEY)})) as url:
        result = await asyncio.to_thread(runner.invoke, app, ["maintenance", "daily", "--url", url, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == list(SCHEDULES["daily"])
    assert report["ok"] is True
    assert steps["health_check"]["status"] == "ok", steps["health_check"]
    assert steps["temp_cleanup"]["status"] == "ok"
    assert steps["log_cleanup"]["details"]["removed"] == ["emailbot.log.2026-11-01"]
    assert steps["metrics_update"]["status"] == "ok", steps["metrics_update"]
    assert steps["retention"]["status"] == "skipped"
    assert "EMAILBOT_RETENTION_DAYS" in steps["retention"]["message"]
    assert all(step["duration_seconds"] >= 0 for step in steps.values())
    assert not stale_tmp.exists()
    assert fresh_tmp.exists()
    assert not stale_log.exists()
    assert fresh_log.exists()


async def test_daily_with_the_service_down_reports_the_failed_steps_and_runs_the_rest(
    runtime: Runtime, cli_env: Path
) -> None:
    stale_log = _aged(cli_env / "logs" / "emailbot.log.2026-11-01", 10)
    result = await asyncio.to_thread(
        runner.invoke, app, ["maintenance", "daily", "--url", "http://127.0.0.1:9", "--json"]
    )

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    steps = {step["name"]: step for step in report["steps"]}
    assert report["ok"] is False
    assert steps["health_check"]["status"] == "failed"
    assert steps["metrics_update"]["status"] == "failed"
    assert "not reachable" in steps["metrics_update"]["message"]
    # Steps that need no service still ran.
    assert steps["log_cleanup"]["status"] == "ok"
    assert not stale_log.exists()


async def test_weekly_vacuums_and_backs_up(runtime: Runtime, cli_env: Path) -> None:
    result = await asyncio.to_thread(runner.invoke, app, ["maintenance", "weekly"])
    assert result.exit_code == 0, result.output
    assert "ok      vacuum_analyze" in result.output
    assert "ok      backup" in result.output
    assert "=== All steps done ===" in result.output
    assert len(list((cli_env / "backups").glob("emailbot-*Z.tar.gz"))) == 1


async def test_an_unreachable_service_is_a_failed_step_not_a_crash(runtime: Runtime, tmp_path: Path) -> None:
    context = Context(runtime.settings, "http://127.0.0.1:9", tmp_path / "reports", http_timeout=2)
    result = await run_step(context, "pattern_analysis")
    assert result.status == "failed"
    assert "not reachable" in result.message


def test_every_scheduled_step_is_registered() -> None:
    assert {name for names in SCHEDULES.values() for name in names} <= set(STEPS)
