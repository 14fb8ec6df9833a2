"""Fixtures for the operations commands: a populated database and a whole-database row dump."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from emailbot.demo import write_demo_mail
from emailbot.domain import RawMessage
from emailbot.runtime import Runtime
from emailbot.store import work
from emailbot.store.db import Database
from emailbot.store.tables import Base, FeedbackRow, ProcessingRuleRow, utcnow
from tests.factories import make_email


async def populate(runtime: Runtime) -> int:
    """The demo mailbox processed end to end (every route), plus a rule and feedback: rows in every main table."""
    write_demo_mail(Path(runtime.settings.local_mailbox_dir))
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.transaction() as session:
        email_id = await session.scalar(select(work.EmailRow.id).limit(1))
        await session.execute(
            insert(ProcessingRuleRow),
            [
                {
                    "name": "vip",
                    "action": "escalate",
                    "domain": "vip.example",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            ],
        )
        await session.execute(
            insert(FeedbackRow),
            [
                {
                    "email_id": email_id,
                    "kind": "correction",
                    "original_category": "SUPPORT",
                    "corrected_category": "INFORMATION",
                }
            ],
        )
    return int(email_id or 0)


async def ingest_emails(db: Database, received: list[datetime], *, prefix: str = "m") -> list[int]:
    """Emails with the given received times, each with a distinct body and raw source."""
    batch = [
        (
            RawMessage(source_id=f"{prefix}{i}", raw=f"Subject: s{i}\r\n\r\nraw body {prefix}{i}".encode()),
            replace(
                make_email(),
                source_id=f"{prefix}{i}",
                message_id=f"<{prefix}{i}@x>",
                received_at=moment,
                body_text=f"body {prefix}{i}",
                clean_text=f"clean {prefix}{i}",
                body_html=f"<p>html {prefix}{i}</p>",
            ),
        )
        for i, moment in enumerate(received)
    ]
    async with db.transaction() as session:
        return await work.ingest(session, "local", batch)  # type: ignore[arg-type]


async def all_rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as the application reads them (decrypted), ordered by primary key."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [dict(row._mapping) for row in result]
    return rows


OLD = datetime(2020, 1, 1, 12, tzinfo=UTC)
