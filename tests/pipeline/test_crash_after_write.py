"""A worker killed (SIGKILL) right after a reply's file is written and before the database records it: after a
restart every email gets exactly one reply, none is lost and none is written twice.

Real files, a real database and a real process kill: the child runs the real pipeline, and the only thing added
to it is the kill itself, placed right after `send_reply` returned (file fsynced, renamed, `cur/` fsynced, possibly
by another writer's shared fsync) and before the side effect is marked done.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from emailbot.runtime import build_runtime
from emailbot.store.tables import ProcessingResultRow, SideEffectRow, utcnow
from tests.factories import rfc822
from tests.runtime_fixtures import settings_for

PROJECT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from emailbot.runtime import build_runtime
    from tests.runtime_fixtures import settings_for

    async def main(tmp: Path, url: str) -> None:
        runtime = build_runtime(settings_for(tmp, url))
        mailbox = runtime.mailbox
        real_send = mailbox.send_reply

        async def send_then_die(*args: object) -> str:
            name = await real_send(*args)
            os.kill(os.getpid(), signal.SIGKILL)  # between the write and its record in the database
            return name

        mailbox.send_reply = send_then_die
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        sys.exit("the pipeline finished without writing a reply")

    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
    """
)


def _deliver(mailbox: Path, count: int) -> None:
    new = mailbox / "new"
    new.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        raw = rfc822(
            "How do I reset my password?",
            "I forgot my password. How do I reset it?",
            sender=f"User {index} <user{index}@customer.example>",
        )
        (new / f"1700000000.{index:03d}.test").write_bytes(raw)


def _sent(mailbox: Path) -> list[str]:
    """In-Reply-To of every reply in .Sent (new/ and cur/): a duplicate shows up twice."""
    folder = mailbox / ".Sent"
    paths = [*(folder / "new").iterdir(), *(folder / "cur").iterdir()]
    parsed = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in paths]
    return sorted(str(message["In-Reply-To"]) for message in parsed)


@pytest.mark.parametrize("emails", [1, 8], ids=["one-reply", "replies-sharing-fsyncs"])
async def test_a_kill_between_writing_a_reply_and_recording_it_loses_and_duplicates_nothing(
    tmp_path: Path, database_url: str, starter_model_dir: Path, emails: int
) -> None:
    shutil.copytree(starter_model_dir, tmp_path / "models")
    mailbox = tmp_path / "mailbox"
    _deliver(mailbox, emails)

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), database_url], cwd=PROJECT, capture_output=True, text=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    runtime = build_runtime(settings_for(tmp_path, database_url))
    try:
        async with runtime.db.transaction() as session:
            recorded = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "reply"))).all()
            assert recorded, "the replies were planned before the kill"
            assert all(row.status != "done" for row in recorded), "the kill came before any reply was recorded"
            # The dead worker's lease would run out by itself; the test does not wait for it.
            await session.execute(update(ProcessingResultRow).values(lease_until=utcnow() - timedelta(seconds=1)))
        assert len(_sent(mailbox)) >= 1, "the killed worker had written a reply"

        await runtime.engine.drain()

        async with runtime.db.sessions() as session:
            results = (await session.scalars(select(ProcessingResultRow))).all()
            replies = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "reply"))).all()
    finally:
        await runtime.close()
    assert [r.status for r in results] == ["completed"] * emails
    assert all(r.response_sent for r in results)
    assert len(replies) == emails
    assert {r.status for r in replies} == {"done"}
    sent = _sent(mailbox)
    assert len(sent) == emails, "one reply per email: none lost, none written twice"
    assert len(set(sent)) == emails
