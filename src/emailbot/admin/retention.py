"""Data retention: emails older than EMAILBOT_RETENTION_DAYS are deleted or anonymized, in batches.

`anonymize` (the default) scrubs everything personal from the email (bodies, raw source, addresses, subject,
attachment names) and from what was derived from it (reply texts, side-effect payloads, summaries, feedback
texts), and keeps the classification and processing rows, so every statistic stays as it was. `delete` removes
the emails with everything attached to them and first adds them to `retention_aggregates` (emails per day
received, category and action), so totals survive. Each batch is one transaction: an interrupted run loses
nothing and the next run carries on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.db import Database
from emailbot.store.tables import (
    ClassificationRow,
    EmailRow,
    EscalationRow,
    FeedbackRow,
    ProcessingResultRow,
    RetentionAggregateRow,
    SideEffectRow,
    utcnow,
)

Mode = Literal["delete", "anonymize"]


@dataclass
class RetentionReport:
    mode: Mode
    cutoff: datetime
    dry_run: bool
    due: int
    done: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "due": self.due,
            "done": self.done,
            "batches": self.batches,
        }


async def apply_retention(
    db: Database,
    *,
    days: int,
    mode: Mode,
    batch_size: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_limit: int | None = None,
) -> RetentionReport:
    cutoff = (now or utcnow()) - timedelta(days=days)
    async with db.transaction() as session:
        due = await session.scalar(select(func.count()).select_from(EmailRow).where(*_due(cutoff, mode)))
    report = RetentionReport(mode=mode, cutoff=cutoff, dry_run=dry_run, due=int(due or 0))
    if dry_run:
        return report
    while batch_limit is None or report.batches < batch_limit:
        async with db.transaction() as session:
            ids = list(
                await session.scalars(
                    select(EmailRow.id).where(*_due(cutoff, mode)).order_by(EmailRow.id).limit(batch_size)
                )
            )
            if not ids:
                break
            if mode == "delete":
                await _aggregate(session, ids)
                await session.execute(delete(EmailRow).where(EmailRow.id.in_(ids)))
            else:
                await _anonymize(session, ids)
        report.done += len(ids)
        report.batches += 1
    return report


def _due(cutoff: datetime, mode: Mode) -> list[Any]:
    conditions: list[Any] = [EmailRow.received_datetime < cutoff]
    if mode == "anonymize":
        conditions.append(EmailRow.anonymized_at.is_(None))
    return conditions


async def _aggregate(session: AsyncSession, ids: list[int]) -> None:
    rows = await session.execute(
        select(EmailRow.received_datetime, ProcessingResultRow.category, ProcessingResultRow.action)
        .outerjoin(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
        .where(EmailRow.id.in_(ids))
    )
    counts = Counter((received.date().isoformat(), category or "", action or "") for received, category, action in rows)
    if not counts:
        return
    values = [
        {"day": day, "category": category, "action": action, "emails": n, "updated_at": utcnow()}
        for (day, category, action), n in counts.items()
    ]
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RetentionAggregateRow)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "category", "action"],
        set_={
            "emails": RetentionAggregateRow.emails + statement.excluded.emails,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(statement, values)


async def _anonymize(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(
        update(EmailRow)
        .where(EmailRow.id.in_(ids))
        .values(
            subject="",
            sender=None,
            sender_name="",
            reply_to=[],
            recipients={},
            body_text="",
            clean_text="",
            body_html=None,
            attachments=[],
            raw=b"",
            parse_error=None,
            anonymized_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    scrubs: list[tuple[Any, dict[str, Any]]] = [
        (ProcessingResultRow, {"response_text": None}),
        (ClassificationRow, {"summary": "", "reasoning": ""}),
        (SideEffectRow, {"payload": {}}),
        (FeedbackRow, {"original_text": None, "edited_text": None}),
        (EscalationRow, {"summary": "", "resolution_notes": None}),
    ]
    for table, values in scrubs:
        await session.execute(
            update(table).where(table.email_id.in_(ids)).values(**values).execution_options(synchronize_session=False)
        )
