"""Builders of stored data for the operations and analytics tests: real rows in the real database."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from emailbot.ops.system import Resources
from emailbot.store.db import Database
from emailbot.store.tables import AuditLogRow, EmailRow, FeedbackRow, ProcessingResultRow, utcnow

_ids = itertools.count(1)


def stored_email(
    received: datetime,
    *,
    category: str | None = "SUPPORT",
    action: str | None = "AUTO_HANDLE",
    status: str = "completed",
    confidence: float | None = 90,
    processing_ms: float | None = 500,
    completed: datetime | None = None,
    subject: str = "Printer jammed",
    sender: str = "alice@customer.example",
    body: str = "The printer on floor 3 is jammed again.",
) -> dict[str, Any]:
    """One email with its processing result; completed a second after it arrived unless told otherwise."""
    number = next(_ids)
    final = status in ("completed", "failed")
    return {
        "email": {
            "mailbox": "local",
            "source_id": f"seed-{number}",
            "message_id": f"<seed-{number}@example.test>",
            "sender": sender,
            "subject": subject,
            "received_datetime": received,
            "body_text": body,
            "clean_text": body,
            "raw": b"",
        },
        "result": {
            "status": status,
            "action": action if final else None,
            "category": category,
            "confidence": confidence,
            "processing_time_ms": processing_ms if final else None,
            "completed_at": (completed or received + timedelta(seconds=1)) if final else None,
            "created_at": received,
        },
    }


async def store(db: Database, emails: list[dict[str, Any]]) -> list[int]:
    async with db.transaction() as session:
        ids = list(
            await session.scalars(
                insert(EmailRow).returning(EmailRow.id, sort_by_parameter_order=True), [e["email"] for e in emails]
            )
        )
        await session.execute(
            insert(ProcessingResultRow),
            [{"email_id": email_id, **e["result"]} for email_id, e in zip(ids, emails, strict=True)],
        )
    return ids


async def add_feedback(db: Database, email_ids: list[int], kind: str, at: datetime | None = None) -> None:
    async with db.transaction() as session:
        await session.execute(
            insert(FeedbackRow),
            [{"email_id": email_id, "kind": kind, "created_at": at or utcnow()} for email_id in email_ids],
        )


async def add_audit(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        await session.execute(insert(AuditLogRow), rows)


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10, what: str = "condition") -> Any:
    """Poll an async condition until it is truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class FixedSampler:
    """Resource readings a test chooses, instead of the machine's own (which depend on whatever else it runs)."""

    cpu_percent: float = 10.0
    memory_percent: float = 40.0
    disk_percent: float = 50.0
    disk_free_bytes: int = 100 * 2**30

    def sample(self, data_dir: Path) -> Resources:
        return Resources(self.cpu_percent, self.memory_percent, self.disk_percent, self.disk_free_bytes)
