"""`emailbot report monthly`: JSON and a self-contained HTML page, with email text escaped."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emailbot.analytics.daily import midnight
from emailbot.analytics.report import month_bounds
from emailbot.cli import app
from emailbot.store.db import Database
from emailbot.store.migrate import upgrade
from emailbot.store.tables import utcnow
from tests.ops_data import store, stored_email

runner = CliRunner()
HOSTILE = '<script>alert("x")</script> Invoice 1 overdue'


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("EMAILBOT_LOCAL_MAILBOX_DIR", str(tmp_path / "mailbox"))
    monkeypatch.setenv("EMAILBOT_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


async def _seed(database_url: str, emails: list[dict[str, Any]]) -> None:
    db = Database(database_url)
    try:
        await store(db, emails)
    finally:
        await db.dispose()


def test_monthly_report_writes_json_and_escaped_html(environment: Path, database_url: str) -> None:
    upgrade(database_url)
    first_of_month = midnight(utcnow().date().replace(day=1))
    in_month = first_of_month + timedelta(days=1, hours=10)
    if in_month > utcnow():  # early on the 1st: use the previous month
        in_month -= timedelta(days=3)
    asyncio.run(
        _seed(
            database_url,
            [
                stored_email(in_month, subject=HOSTILE.replace("1", str(n)), sender="billing@supplier.example")
                for n in range(1, 5)
            ]
            + [stored_email(in_month, category="ESCALATION", action="ESCALATE", confidence=30)],
        )
    )
    month = in_month.strftime("%Y-%m")

    result = runner.invoke(app, ["report", "monthly", "--month", month, "--out", str(environment / "reports")])
    assert result.exit_code == 0, result.output

    report = json.loads((environment / "reports" / f"emailbot-report-{month}.json").read_text())
    assert report["metrics"]["emails_processed"] == 5
    assert report["metrics"]["escalation_rate"] == 0.2
    assert report["category_distribution"] == {"SUPPORT": 4, "ESCALATION": 1}
    assert len(report["daily"]) == (month_bounds(month)[1] - month_bounds(month)[0]).days
    assert any(p["kind"] == "sender" and p["frequency"] == 4 for p in report["top_patterns"])

    html = (environment / "reports" / f"emailbot-report-{month}.html").read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<svg" in html
    assert not re.search(r"(src|href)=\"https?:", html)  # self-contained


def test_a_bad_month_is_refused(environment: Path) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", "2025-13"])
    assert result.exit_code == 2
    assert "--month" in result.output


def test_month_bounds() -> None:
    start, end = month_bounds("2024-12")
    assert (start.isoformat(), end.isoformat()) == ("2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00")
