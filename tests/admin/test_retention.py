"""Data retention on real databases: old emails deleted (aggregates kept) or anonymized (statistics kept)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from emailbot.admin.retention import apply_retention
from emailbot.domain import Status
from emailbot.store import work
from emailbot.store.db import Database
from emailbot.store.tables import (
    ClassificationRow,
    EmailRow,
    ProcessingResultRow,
    RetentionAggregateRow,
    SideEffectRow,
    utcnow,
)
from tests.admin.conftest import OLD, ingest_emails


async def _old_and_new(db: Database) -> tuple[list[int], list[int]]:
    old = await ingest_emails(db, [OLD, OLD, OLD + timedelta(days=1)], prefix="old")
    new = await ingest_emails(db, [utcnow() - timedelta(days=1)], prefix="new")
    async with db.transaction() as session:
        await work.update_each(
            session,
            {
                old[0]: {"category": "SUPPORT", "action": "AUTO_HANDLE"},
                old[1]: {"category": "SUPPORT", "action": "AUTO_HANDLE"},
                old[2]: {"category": "PURCHASING", "action": "HUMAN_REVIEW"},
                new[0]: {"category": "SUPPORT", "action": "AUTO_HANDLE"},
            },
        )
        await work.set_status(session, old + new, Status.COMPLETED, completed_at=utcnow())
        await work.add_classifications(
            session,
            [
                {
                    "email_id": i,
                    "category": "SUPPORT",
                    "confidence": 90.0,
                    "urgency": "MEDIUM",
                    "classifier": "t",
                    "model": "t",
                    "summary": f"summary {i}",
                    "created_at": utcnow(),
                }
                for i in old + new
            ],
        )
        await work.add_effects(
            session,
            [{"idempotency_key": f"reply:{i}", "email_id": i, "kind": "reply", "payload": {"to": "a@b"}} for i in old],
        )
    return old, new


async def test_delete_mode_removes_old_emails_and_keeps_their_counts(db: Database) -> None:
    old, new = await _old_and_new(db)

    dry = await apply_retention(db, days=365, mode="delete", dry_run=True)
    assert (dry.due, dry.done) == (3, 0)
    report = await apply_retention(db, days=365, mode="delete", batch_size=2)

    assert (report.due, report.done, report.batches) == (3, 3, 2)
    async with db.transaction() as session:
        assert list(await session.scalars(select(EmailRow.id))) == new
        for table in (ProcessingResultRow, ClassificationRow):
            assert set(await session.scalars(select(table.email_id))) == set(new)
        assert list(await session.scalars(select(SideEffectRow.email_id))) == []  # only old emails had replies
        aggregates = {
            (row.day, row.category, row.action): row.emails
            for row in await session.scalars(select(RetentionAggregateRow))
        }
    assert aggregates == {("2020-01-01", "SUPPORT", "AUTO_HANDLE"): 2, ("2020-01-02", "PURCHASING", "HUMAN_REVIEW"): 1}


async def test_anonymize_mode_scrubs_personal_data_and_keeps_statistics(db: Database) -> None:
    old, new = await _old_and_new(db)

    report = await apply_retention(db, days=365, mode="anonymize", batch_size=2)
    again = await apply_retention(db, days=365, mode="anonymize")

    assert (report.done, again.due, again.done) == (3, 0, 0)
    async with db.transaction() as session:
        emails = {row.id: row for row in await session.scalars(select(EmailRow))}
        results = {row.email_id: row for row in await session.scalars(select(ProcessingResultRow))}
        summaries = {row.email_id: row.summary for row in await session.scalars(select(ClassificationRow))}
        payloads = [row.payload for row in await session.scalars(select(SideEffectRow))]
        aggregates = await session.scalar(select(func.count()).select_from(RetentionAggregateRow))
    for email_id in old:
        email = emails[email_id]
        assert (email.subject, email.sender, email.body_text, email.clean_text, email.body_html, email.raw) == (
            "",
            None,
            "",
            "",
            None,
            b"",
        )
        assert email.recipients == {}
        assert email.anonymized_at is not None
        assert results[email_id].category in {"SUPPORT", "PURCHASING"}
        assert results[email_id].status == "completed"
        assert summaries[email_id] == ""
    assert payloads == [{}, {}, {}]
    kept = emails[new[0]]
    assert (kept.body_text, kept.raw, kept.anonymized_at) == ("body new0", b"Subject: s0\r\n\r\nraw body new0", None)
    assert summaries[new[0]] == f"summary {new[0]}"
    assert aggregates == 0  # the rows themselves still carry the statistics
