"""Queries that move emails through the pipeline: ingest, claim with a lease, intents, completion.

The lease is what makes the engine safe to kill: a worker claims a batch for `lease_seconds`; if it dies, the
lease runs out and the sweeper hands the emails to another worker, which resumes from the stored state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Classification, Email, RawMessage, Rule, Status
from emailbot.store.convert import classification_from_row, email_from_row, email_row, rule_from_row
from emailbot.store.tables import (
    ClassificationRow,
    EmailRow,
    ProcessingResultRow,
    ProcessingRuleRow,
    SideEffectRow,
    utcnow,
)

FINAL = (Status.COMPLETED.value, Status.FAILED.value)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()


async def ingest(session: AsyncSession, mailbox: str, parsed: Sequence[tuple[RawMessage, Email]]) -> list[int]:
    """Store new emails with a `received` processing row; an email already stored is left alone.

    A second copy of an Internet Message-ID under another source id (the same mail delivered twice) is stored
    too, but completed at once as a duplicate, so it is never answered twice.
    """
    if not parsed:
        return []
    rows = [email_row(mailbox, message, email) for message, email in parsed]
    inserted = await session.execute(_insert(session, EmailRow).returning(EmailRow.id, EmailRow.message_id), rows)
    new = [(row.id, row.message_id) for row in inserted]
    if not new:
        return []
    duplicates = await _duplicate_message_ids(session, mailbox, new)
    now = utcnow()
    await session.execute(
        _insert(session, ProcessingResultRow),
        [_processing_row(email_id, duplicates.get(email_id), now) for email_id, _ in new],
    )
    return [email_id for email_id, _ in new if email_id not in duplicates]


def _processing_row(email_id: int, duplicate_of: int | None, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {"email_id": email_id, "status": Status.RECEIVED.value, "next_attempt_at": now}
    if duplicate_of is not None:
        row |= {
            "status": Status.COMPLETED.value,
            "action": Action.SKIP.value,
            "reason": f"duplicate of email {duplicate_of}",
            "completed_at": now,
        }
    return row


async def _duplicate_message_ids(
    session: AsyncSession, mailbox: str, new: Sequence[tuple[int, str | None]]
) -> dict[int, int]:
    """Map each new email id whose Message-ID was seen before (or earlier in this batch) to the first one."""
    ids = {message_id for _, message_id in new if message_id}
    if not ids:
        return {}
    first = await session.execute(
        select(EmailRow.message_id, func.min(EmailRow.id))
        .where(EmailRow.mailbox == mailbox, EmailRow.message_id.in_(ids))
        .group_by(EmailRow.message_id)
    )
    first_by_message_id = {message_id: email_id for message_id, email_id in first}
    return {
        email_id: first_by_message_id[message_id]
        for email_id, message_id in new
        if message_id and first_by_message_id.get(message_id, email_id) != email_id
    }


async def email_with_result(session: AsyncSession, email_id: int) -> tuple[EmailRow, ProcessingResultRow] | None:
    """An email and its processing row, or None when there is no such email."""
    found = (
        await session.execute(
            select(EmailRow, ProcessingResultRow).join(ProcessingResultRow).where(EmailRow.id == email_id)
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def claim(session: AsyncSession, email_ids: Iterable[int], lease_seconds: float) -> dict[int, tuple[str, int]]:
    """Take the due, unleased emails among `email_ids` for this worker: their status and attempt count."""
    now = utcnow()
    result = await session.execute(
        update(ProcessingResultRow)
        .where(
            ProcessingResultRow.email_id.in_(list(email_ids)),
            ProcessingResultRow.status.not_in(FINAL),
            ProcessingResultRow.next_attempt_at <= now,
            or_(ProcessingResultRow.lease_until.is_(None), ProcessingResultRow.lease_until < now),
        )
        .values(
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=ProcessingResultRow.attempts + 1,
            started_at=func.coalesce(ProcessingResultRow.started_at, now),
        )
        .returning(ProcessingResultRow.email_id, ProcessingResultRow.status, ProcessingResultRow.attempts)
        .execution_options(synchronize_session=False)
    )
    return {row.email_id: (row.status, row.attempts) for row in result}


async def extend_lease(session: AsyncSession, email_ids: Sequence[int], lease_seconds: float) -> None:
    """Extend the lease this worker holds on `email_ids`."""
    await session.execute(
        update(ProcessingResultRow)
        .where(ProcessingResultRow.email_id.in_(email_ids))
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )


async def due_email_ids(session: AsyncSession, limit: int) -> list[int]:
    """Emails that are not final, due, and held by no live worker: what the sweeper hands out."""
    now = utcnow()
    result = await session.execute(
        select(ProcessingResultRow.email_id)
        .where(
            ProcessingResultRow.status.not_in(FINAL),
            ProcessingResultRow.next_attempt_at <= now,
            or_(ProcessingResultRow.lease_until.is_(None), ProcessingResultRow.lease_until < now),
        )
        .order_by(ProcessingResultRow.email_id)
        .limit(limit)
    )
    return list(result.scalars())


async def set_status(session: AsyncSession, email_ids: Sequence[int], status: Status, **values: Any) -> None:
    if email_ids:
        await session.execute(
            update(ProcessingResultRow)
            .where(ProcessingResultRow.email_id.in_(email_ids))
            .values(status=status.value, **values)
            .execution_options(synchronize_session=False)
        )


async def record_failure(session: AsyncSession, email_id: int, error: str, *, retry_in: float | None) -> None:
    """Keep the error; schedule a retry, or make the failure final when `retry_in` is None."""
    values: dict[str, Any] = {"error": error[:4000], "lease_until": None}
    if retry_in is None:
        values |= {"status": Status.FAILED.value, "completed_at": utcnow()}
    else:
        values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
    await session.execute(update(ProcessingResultRow).where(ProcessingResultRow.email_id == email_id).values(**values))


async def add_effects(session: AsyncSession, effects: Sequence[dict[str, Any]]) -> None:
    """Store planned side effects (the outbox) in one round trip."""
    if effects:
        now = utcnow()
        rows = [{"status": "pending", "attempts": 0, "created_at": now, **effect} for effect in effects]
        await session.execute(insert(SideEffectRow), rows)


async def add_classifications(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(ClassificationRow), list(rows))


async def active_rules(session: AsyncSession) -> tuple[Rule, ...]:
    rows = await session.scalars(select(ProcessingRuleRow).where(ProcessingRuleRow.enabled.is_(True)))
    return tuple(rule_from_row(row) for row in rows)


async def replies_in_last_hour(session: AsyncSession, senders: Iterable[str]) -> dict[str, int]:
    """How many replies each sender got from EmailBot in the last hour (for the per-sender loop guard)."""
    wanted = {sender.lower() for sender in senders if sender}
    if not wanted:
        return {}
    since = utcnow() - timedelta(hours=1)
    result = await session.execute(
        select(func.lower(EmailRow.sender), func.count())
        .join(SideEffectRow, SideEffectRow.email_id == EmailRow.id)
        .where(SideEffectRow.kind == "reply", SideEffectRow.created_at >= since)
        .where(func.lower(EmailRow.sender).in_(wanted))
        .group_by(func.lower(EmailRow.sender))
    )
    return {sender: count for sender, count in result}


async def pending_effects(session: AsyncSession, email_ids: Sequence[int]) -> list[SideEffectRow]:
    rows = await session.scalars(
        select(SideEffectRow)
        .where(SideEffectRow.email_id.in_(email_ids), SideEffectRow.status == "pending")
        .order_by(SideEffectRow.id)
    )
    return list(rows)


async def mark_effects_done(session: AsyncSession, results: dict[int, str]) -> None:
    if results:
        now = utcnow()
        await session.execute(
            update(SideEffectRow),
            [
                {"id": effect_id, "status": "done", "result": reference, "done_at": now}
                for effect_id, reference in results.items()
            ],
        )


async def update_each(session: AsyncSession, values_by_email: dict[int, dict[str, Any]]) -> None:
    """Several processing rows, each with its own values, in one round trip per distinct column set."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for email_id, values in values_by_email.items():
        groups.setdefault(tuple(sorted(values)), []).append({"b_email_id": email_id, **values})
    table = cast(Table, ProcessingResultRow.__table__)
    for columns, rows in groups.items():
        statement = (
            update(table)
            .where(table.c.email_id == bindparam("b_email_id"))
            .values({column: bindparam(column) for column in columns})
        )
        await session.execute(statement, rows)


async def emails_with_reply_sent(session: AsyncSession, email_ids: Sequence[int]) -> set[int]:
    rows = await session.scalars(
        select(SideEffectRow.email_id).where(
            SideEffectRow.email_id.in_(email_ids),
            SideEffectRow.kind == "reply",
            SideEffectRow.status == "done",
        )
    )
    return {email_id for email_id in rows if email_id is not None}


async def started_at(session: AsyncSession, email_ids: Sequence[int]) -> dict[int, datetime]:
    rows = await session.execute(
        select(ProcessingResultRow.email_id, ProcessingResultRow.started_at).where(
            ProcessingResultRow.email_id.in_(email_ids)
        )
    )
    return {email_id: started for email_id, started in rows if started is not None}


async def mark_effect_failed(session: AsyncSession, effect_id: int, error: str, *, permanent: bool) -> None:
    await session.execute(
        update(SideEffectRow)
        .where(SideEffectRow.id == effect_id)
        .values(
            status="failed" if permanent else "pending",
            error=error[:4000],
            attempts=SideEffectRow.attempts + 1,
        )
    )


async def load_emails(session: AsyncSession, email_ids: list[int]) -> dict[int, EmailRow]:
    rows = await session.scalars(select(EmailRow).where(EmailRow.id.in_(email_ids)))
    return {row.id: row for row in rows}


async def stored_classifications(session: AsyncSession, email_ids: list[int]) -> dict[int, Classification]:
    if not email_ids:
        return {}
    rows = await session.scalars(
        select(ClassificationRow).where(ClassificationRow.email_id.in_(email_ids)).order_by(ClassificationRow.id)
    )
    return {row.email_id: classification_from_row(row) for row in rows}


THREAD_CONTEXT = 4


async def earlier_in_thread(session: AsyncSession, emails: dict[int, Email]) -> dict[int, list[Email]]:
    """The earlier messages of each email's thread that are stored here (by References / In-Reply-To), oldest first."""
    wanted = {email_id: list(email.references[-THREAD_CONTEXT:]) for email_id, email in emails.items()}
    for email_id, email in emails.items():
        if email.in_reply_to and email.in_reply_to not in wanted[email_id]:
            wanted[email_id].append(email.in_reply_to)
    ids = {message_id for ids in wanted.values() for message_id in ids}
    if not ids:
        return {}
    rows = await session.scalars(select(EmailRow).where(EmailRow.message_id.in_(ids)))
    by_message_id = {row.message_id: email_from_row(row) for row in rows}
    return {
        email_id: [by_message_id[m] for m in message_ids if m in by_message_id]
        for email_id, message_ids in wanted.items()
    }
