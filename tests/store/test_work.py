"""The pipeline's queries on real SQLite and PostgreSQL: ingest is idempotent, leases exclude, failures keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from emailbot.domain import RawMessage, Status
from emailbot.store import work
from emailbot.store.db import Database
from emailbot.store.tables import EmailRow, ProcessingResultRow, utcnow
from tests.factories import make_email


def _batch(*ids: str, message_id: str | None = None) -> list[tuple[RawMessage, object]]:
    return [
        (
            RawMessage(source_id=i, raw=f"raw {i}".encode()),
            replace(make_email(), source_id=i, message_id=message_id or f"<{i}@x>"),
        )
        for i in ids
    ]


async def test_ingest_stores_raw_and_is_idempotent(db: Database) -> None:
    async with db.transaction() as session:
        first = await work.ingest(session, "local", _batch("a", "b"))  # type: ignore[arg-type]
    async with db.transaction() as session:
        again = await work.ingest(session, "local", _batch("a", "b", "c"))  # type: ignore[arg-type]
    async with db.transaction() as session:
        replayed = await work.ingest(session, "local", _batch("a", "c"))  # type: ignore[arg-type]
    assert len(first) == 2
    assert len(again) == 1
    assert replayed == []
    async with db.sessions() as session:
        rows = (await session.scalars(select(EmailRow).order_by(EmailRow.id))).all()
        statuses = (await session.scalars(select(ProcessingResultRow.status))).all()
    assert [row.raw for row in rows] == [b"raw a", b"raw b", b"raw c"]
    assert set(statuses) == {Status.RECEIVED.value}


async def test_same_message_id_under_two_source_ids_is_processed_once(db: Database) -> None:
    async with db.transaction() as session:
        new = await work.ingest(session, "local", _batch("a", "b", message_id="<same@x>"))  # type: ignore[arg-type]
    assert len(new) == 1
    async with db.sessions() as session:
        results = (await session.scalars(select(ProcessingResultRow).order_by(ProcessingResultRow.id))).all()
    assert [r.status for r in results] == ["received", "completed"]
    assert results[1].reason == f"duplicate of email {new[0]}"


async def test_a_lease_keeps_other_workers_out_until_it_expires(db: Database) -> None:
    async with db.transaction() as session:
        ids = await work.ingest(session, "local", _batch("a", "b"))  # type: ignore[arg-type]
    async with db.transaction() as session:
        first = await work.claim(session, ids, lease_seconds=60)
    async with db.transaction() as session:
        second = await work.claim(session, ids, lease_seconds=60)
        due = await work.due_email_ids(session, 10)
    assert set(first) == set(ids)
    assert first[ids[0]] == ("received", 1)
    assert second == {}
    assert due == []
    async with db.transaction() as session:
        await work.set_status(session, ids, Status.ROUTING, lease_until=utcnow() - timedelta(seconds=1))
    async with db.transaction() as session:
        third = await work.claim(session, ids, lease_seconds=60)
    assert third == {ids[0]: ("routing", 2), ids[1]: ("routing", 2)}


async def test_failure_is_kept_and_retried_later_or_final(db: Database) -> None:
    async with db.transaction() as session:
        ids = await work.ingest(session, "local", _batch("a", "b"))  # type: ignore[arg-type]
        await work.claim(session, ids, lease_seconds=60)
        await work.record_failure(session, ids[0], "SMTP 451", retry_in=30)
        await work.record_failure(session, ids[1], "template broken", retry_in=None)
    async with db.sessions() as session:
        rows = {r.email_id: r for r in await session.scalars(select(ProcessingResultRow))}
        due = await work.due_email_ids(session, 10)
    assert rows[ids[0]].status == "received"
    assert rows[ids[0]].error == "SMTP 451"
    assert rows[ids[0]].next_attempt_at > utcnow()
    assert rows[ids[1]].status == "failed"
    assert rows[ids[1]].completed_at is not None
    assert due == []


async def test_update_each_sets_per_row_values(db: Database) -> None:
    async with db.transaction() as session:
        ids = await work.ingest(session, "local", _batch("a", "b", "c"))  # type: ignore[arg-type]
        await work.update_each(
            session,
            {ids[0]: {"category": "SUPPORT"}, ids[1]: {"category": "PURCHASING"}, ids[2]: {"confidence": 12.5}},
        )
    async with db.sessions() as session:
        rows = {r.email_id: r for r in await session.scalars(select(ProcessingResultRow))}
    assert [rows[i].category for i in ids] == ["SUPPORT", "PURCHASING", None]
    assert rows[ids[2]].confidence == 12.5
