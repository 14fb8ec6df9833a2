"""`emailbot run --demo` on a fresh install (earned autonomy, default thresholds): the demo grants its routine
categories by hand, so its routine mail is still answered automatically, and the grants are on record."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from emailbot.autonomy import service
from emailbot.cli import _write_demo
from emailbot.demo import ROUTINE_CATEGORIES
from emailbot.runtime import build_runtime
from emailbot.settings import Settings
from emailbot.store.tables import AuditLogRow, ProcessingResultRow
from tests.runtime_fixtures import settings_for


async def test_the_demo_grants_its_routine_categories_and_still_auto_answers(
    tmp_path: Path, database_url: str, starter_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(starter_model_dir, tmp_path / "models")
    settings = settings_for(tmp_path, database_url, autonomy="earned")
    runtime = build_runtime(settings)
    try:
        await _run_demo(runtime.settings)
        assert f"auto-send granted for {', '.join(ROUTINE_CATEGORIES)}" in capsys.readouterr().out
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        async with runtime.db.transaction() as session:
            results = list(await session.scalars(select(ProcessingResultRow)))
            audited = list(await session.execute(select(AuditLogRow.actor, AuditLogRow.action)))
        table = {row["category"]: row for row in (await service.overview(runtime))["items"]}
    finally:
        await runtime.close()
    assert ROUTINE_CATEGORIES == ("INFORMATION", "PURCHASING", "SUPPORT")
    assert all(table[name]["status"] == "granted by demo" for name in ROUTINE_CATEGORIES)
    assert table["CONSULTATION"]["auto_send"] is False
    assert sorted(audited) == [("demo", "autonomy.grant")] * len(ROUTINE_CATEGORIES)
    auto = [r for r in results if r.action == "AUTO_HANDLE"]
    assert auto
    assert all(r.category in ROUTINE_CATEGORIES and r.response_sent for r in auto)
    held_back = [r for r in results if "auto-send not yet earned" in (r.reason or "")]
    assert all(r.category not in ROUTINE_CATEGORIES for r in held_back)


async def _run_demo(settings: Settings) -> None:
    """`_write_demo` is synchronous (it runs before the server's loop); here it runs beside the test's loop."""
    await asyncio.to_thread(_write_demo, settings)
