"""Kill the real service with SIGKILL in the middle of a batch of 200 emails, restart it, and check that every
email was handled exactly once and that no reply or draft was written twice.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.service import Service, wait_for
from tests.factories import rfc822

pytestmark = pytest.mark.slow

ROUTINE = [
    ("Password reset for my account", "Hi, I forgot my password and cannot log in to my laptop. Can you reset it?"),
    ("Quote for 10 Adobe licences", "Please send us a quote for ten Adobe Acrobat licences for the finance team."),
    ("Office hours over the holidays", "What are the help desk opening hours between Christmas and New Year?"),
    ("VPN keeps disconnecting", "Since this morning my VPN drops every few minutes when I work from home."),
    ("Server room is down!!", "The whole production database cluster is down and all users are affected."),
]


def _fill(mailbox: Path, count: int) -> None:
    new = mailbox / "new"
    new.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        subject, body = ROUTINE[index % len(ROUTINE)]
        raw = rfc822(f"{subject} #{index}", body, sender=f"User {index} <user{index}@customer.example>")
        (new / f"1700000000.{index:04d}.test").write_bytes(raw)


def _query(database_url: str, sql: str) -> list[tuple[object, ...]]:
    import asyncio

    from emailbot.store.db import Database

    async def run() -> list[tuple[object, ...]]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                return [tuple(row) for row in await session.execute(text(sql))]
        finally:
            await db.dispose()

    return asyncio.run(run())


def _replies_in(folder: Path) -> Counter[str]:
    """In-Reply-To of every message in a Maildir folder: a duplicate reply shows as a count of 2."""
    seen: Counter[str] = Counter()
    for sub in ("new", "cur"):
        for path in (folder / sub).glob("*") if (folder / sub).is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            seen[str(message["In-Reply-To"])] += 1
    return seen


def test_sigkill_mid_batch_then_restart_handles_every_email_once(tmp_path: Path, database_url: str) -> None:
    mailbox = tmp_path / "mailbox"
    _fill(mailbox, 200)
    service = Service(
        tmp_path,
        {
            "EMAILBOT_DATABASE_URL": database_url,
            "EMAILBOT_LOCAL_MAILBOX_DIR": str(mailbox),
            "EMAILBOT_MODEL_DIR": str(tmp_path / "models"),
            "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
            "EMAILBOT_POLL_INTERVAL_SECONDS": "0.2",
            "EMAILBOT_LEASE_SECONDS": "2",
            "EMAILBOT_BATCH_SIZE": "5",
            "EMAILBOT_WORKER_CONCURRENCY": "1",
            "EMAILBOT_LOG_LEVEL": "WARNING",
        },
    )
    try:
        service.start()
        wait_for(lambda: sum(_replies_in(mailbox / ".Sent").values()) >= 5, timeout=180, what="the first replies")
        service.kill()
        done_at_kill = _query(database_url, "SELECT count(*) FROM processing_results WHERE status = 'completed'")[0][0]
        assert 0 < int(done_at_kill) < 200, "the kill must land in the middle of the work"  # type: ignore[call-overload]

        service.start()
        wait_for(
            lambda: service.get("/process/status")["processing_stats"]["total_processed"] == 200,
            timeout=300,
            interval=0.2,
            what="all 200 emails to be processed after the restart",
        )
    finally:
        service.stop()

    statuses = _query(database_url, "SELECT status, count(*) FROM processing_results GROUP BY status")
    errors = _query(database_url, "SELECT email_id, error FROM processing_results WHERE status != 'completed'")
    assert dict(statuses) == {"completed": 200}, errors  # type: ignore[arg-type]
    per_email = _query(database_url, "SELECT count(*) FROM processing_results GROUP BY email_id HAVING count(*) > 1")
    assert per_email == []
    replies_done = _query(database_url, "SELECT count(*) FROM side_effects WHERE kind = 'reply' AND status = 'done'")
    drafts_done = _query(database_url, "SELECT count(*) FROM side_effects WHERE kind = 'draft' AND status = 'done'")
    sent, drafts = _replies_in(mailbox / ".Sent"), _replies_in(mailbox / ".Drafts")
    assert sent, "no reply was written"
    assert max(sent.values()) == 1, "a reply was written twice"
    assert not drafts or max(drafts.values()) == 1, "a draft was written twice"
    assert sum(sent.values()) == replies_done[0][0]
    assert sum(drafts.values()) == drafts_done[0][0]
    assert not list((mailbox / "new").iterdir()), "every email left new/"
    handled = [p for p in (mailbox / "cur").iterdir() if ":2," in p.name and "S" in p.name.split(":2,")[1]]
    assert len(handled) == 200
