"""The pause flag in the database stops every engine from ingesting and processing, and shows in /process/status."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from emailbot.api.app import create_app
from emailbot.demo import DEMO_MAIL, write_demo_mail
from emailbot.runtime import Runtime
from emailbot.store import system_state
from emailbot.store.tables import EmailRow, ProcessingResultRow
from tests.api_clients import admin_client
from tests.factories import rfc822


async def _pause(runtime: Runtime, reason: str = "maintenance") -> None:
    async with runtime.db.transaction() as session:
        await system_state.pause_processing(session, reason)


async def _resume(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        await system_state.resume_processing(session)


async def _count(runtime: Runtime, *conditions: object) -> int:
    async with runtime.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessingResultRow).where(*conditions)) or 0)


async def test_a_paused_engine_neither_ingests_nor_processes(runtime: Runtime) -> None:
    mailbox = Path(runtime.settings.local_mailbox_dir)
    write_demo_mail(mailbox)
    await runtime.engine.poll_once()
    due = await _count(runtime)
    assert due > 0
    await _pause(runtime)
    (mailbox / "new" / "late.eml").write_bytes(rfc822("Password reset please", "I am locked out."))
    runtime.engine._pause_checked_at = float("-inf")  # the test does not wait out the check interval

    assert await runtime.engine.poll_once() == 0
    assert await runtime.engine.drain() == 0
    assert await runtime.engine.sweep_once() == 0
    assert (mailbox / "new" / "late.eml").exists()
    assert await _count(runtime, ProcessingResultRow.status == "completed") == 0

    await _resume(runtime)
    runtime.engine._pause_checked_at = float("-inf")
    assert await runtime.engine.poll_once() == 1
    assert await runtime.engine.drain() == due + 1


async def test_process_status_shows_the_pause(runtime: Runtime) -> None:
    app = create_app(runtime, run_engine=False)
    async with admin_client(runtime, app) as client:
        assert (await client.get("/process/status")).json()["status"] == "stopped"
        await _pause(runtime, "restore in progress")
        body = (await client.get("/process/status")).json()
        assert body["status"] == "paused"
        assert (body["paused"], body["paused_reason"]) == (True, "restore in progress")


async def test_the_running_engine_stops_claiming_while_paused_and_resumes(runtime: Runtime) -> None:
    await _pause(runtime)
    runtime.engine.start()
    mailbox = Path(runtime.settings.local_mailbox_dir)
    write_demo_mail(mailbox)
    deadline = asyncio.get_running_loop().time() + 10
    while runtime.engine.pause is None:  # the loops have read the flag at least once
        assert asyncio.get_running_loop().time() < deadline, "engine never read the pause flag"
        await asyncio.sleep(0.05)
    runtime.engine.trigger()
    async with runtime.db.transaction() as session:
        stored = await session.scalar(select(func.count()).select_from(EmailRow))
    assert stored == 0

    await _resume(runtime)
    runtime.engine.trigger()
    deadline = asyncio.get_running_loop().time() + 30
    while await _count(runtime, ProcessingResultRow.status == "completed") < len(DEMO_MAIL):
        assert asyncio.get_running_loop().time() < deadline, "processing did not resume"
        await asyncio.sleep(0.1)
    assert runtime.engine.pause is None


async def test_a_restore_under_the_running_service_gives_back_every_email_and_processing_goes_on(
    runtime: Runtime,
) -> None:
    from emailbot.admin.backup import create_backup
    from emailbot.admin.restore import restore_backup
    from tests.admin.conftest import all_rows

    mailbox = Path(runtime.settings.local_mailbox_dir)
    write_demo_mail(mailbox)
    runtime.engine.start()
    await _wait_for_completed(runtime, len(DEMO_MAIL))
    before = await all_rows(runtime.db)
    backup = await create_backup(runtime.settings)  # "last night's backup", taken while the service runs
    (mailbox / "new" / "after-backup.eml").write_bytes(rfc822("VPN drops every hour", "Since Monday."))
    await _wait_for_completed(runtime, len(DEMO_MAIL) + 1)

    # The engine keeps running; the restore pauses it through the database, waits one check interval and more.
    await restore_backup(runtime.settings, backup.path, settle_seconds=1.5)

    assert (await all_rows(runtime.db))["emails"] == before["emails"]
    (mailbox / "new" / "after-restore.eml").write_bytes(rfc822("Printer offline", "Floor 2 printer is offline."))
    runtime.engine.trigger()
    await _wait_for_completed(runtime, len(DEMO_MAIL) + 1)  # the restored emails plus the new one
    assert runtime.engine.running


async def _wait_for_completed(runtime: Runtime, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while await _count(runtime, ProcessingResultRow.status == "completed") < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} emails completed"
        await asyncio.sleep(0.1)
