"""What the Graph connector keeps in the database: each mailbox's delta link and its in-flight send markers.

Both live in `sync_cursors` (mailbox, kind) → value: kind `inbox-delta` holds the link to resume the inbox from;
kind `effect:<idempotency key>` records that a reply or draft is being created (`sending`) or was (`done:<ref>`),
so a retry after a crash knows whether Graph may already have it (see docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from emailbot.store.db import Database
from emailbot.store.tables import EmailRow, SyncCursorRow, utcnow

DELTA_KIND = "inbox-delta"
SENDING = "sending"


class GraphState:
    def __init__(self, db: Database, mailbox_column: str) -> None:
        self.db = db
        self.mailbox_column = mailbox_column  # EmailRow.mailbox of the emails this connector ingests

    async def get(self, mailbox: str, kind: str) -> str | None:
        async with self.db.sessions() as session:
            row = await session.get(SyncCursorRow, (mailbox, kind))
            return row.value if row else None

    async def put(self, mailbox: str, kind: str, value: str) -> None:
        values = {"mailbox": mailbox, "kind": kind, "value": value, "updated_at": utcnow()}
        async with self.db.transaction() as session:
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            statement = insert(SyncCursorRow).values(**values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["mailbox", "kind"], set_={"value": value, "updated_at": values["updated_at"]}
                )
            )

    async def remove(self, mailbox: str, kind: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(SyncCursorRow).where(SyncCursorRow.mailbox == mailbox, SyncCursorRow.kind == kind)
            )

    async def known_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        """Which of these messages are stored already (a replayed delta page, our own changes coming back)."""
        if not source_ids:
            return set()
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(EmailRow.source_id).where(
                    EmailRow.mailbox == self.mailbox_column, EmailRow.source_id.in_(list(source_ids))
                )
            )
            return set(rows)


def effect_kind(key: str) -> str:
    """The sync_cursors kind for an effect's marker (the column holds 50 characters)."""
    return f"effect:{key}"[:50]
