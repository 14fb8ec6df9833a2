"""`emailbot security rotate-key`: re-encrypt every email body and raw source with the current (first) key.

Put the new key first in EMAILBOT_ENCRYPTION_KEY and keep the old ones after it until the rotation has finished;
then the old keys can go. Plaintext rows (written before encryption was turned on) are encrypted on the way.
Progress (the last email id done, for which key) is stored in `system_state` after every batch, in the batch's own
transaction, so an interrupted rotation resumes where it stopped, and a rotation to yet another key starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import LargeBinary, Table, Text, bindparam, select, type_coerce, update

from emailbot.admin.common import OpsError
from emailbot.store import crypto, system_state
from emailbot.store.db import Database
from emailbot.store.tables import EmailRow, utcnow

CURSOR_KEY = "key_rotation"
TEXT_COLUMNS = ("body_text", "clean_text", "body_html")
BINARY_COLUMNS = ("raw",)


@dataclass
class RotationReport:
    scanned: int = 0
    encrypted: int = 0  # plaintext rows now encrypted
    reencrypted: int = 0  # rows moved from an older key to the current one
    batches: int = 0
    resumed_after: int = 0
    finished: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def rotate_key(db: Database, *, batch_size: int = 200, batch_limit: int | None = None) -> RotationReport:
    ring = crypto.active_ring()
    if ring is None:
        raise OpsError("EMAILBOT_ENCRYPTION_KEY is not set: there is no key to encrypt with")
    async with db.transaction() as session:
        cursor = await system_state.get(session, CURSOR_KEY)
    last_id = int(cursor["last_id"]) if cursor and cursor.get("key") == ring.current_fingerprint else 0
    report = RotationReport(resumed_after=last_id)
    table = cast(Table, EmailRow.__table__)
    stored: list[Any] = [type_coerce(table.c[name], Text()).label(name) for name in TEXT_COLUMNS]
    stored += [type_coerce(table.c[name], LargeBinary()).label(name) for name in BINARY_COLUMNS]
    while batch_limit is None or report.batches < batch_limit:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(table.c.id, *stored).where(table.c.id > last_id).order_by(table.c.id).limit(batch_size)
                )
            ).all()
            if not rows:
                await system_state.remove(session, CURSOR_KEY)
                report.finished = True
                break
            changes = [change for row in rows if (change := _rotated(ring, row._mapping, report))]
            if changes:
                await session.execute(_update_statement(table), changes)
            last_id = rows[-1].id
            await system_state.put(
                session, CURSOR_KEY, {"last_id": last_id, "key": ring.current_fingerprint, "at": utcnow().isoformat()}
            )
        report.scanned += len(rows)
        report.batches += 1
    return report


def _update_statement(table: Table) -> Any:
    # Typed bind parameters bypass the encrypting column types: the values are already ciphertext.
    values: dict[str, Any] = {name: bindparam(f"v_{name}", type_=Text()) for name in TEXT_COLUMNS}
    values |= {name: bindparam(f"v_{name}", type_=LargeBinary()) for name in BINARY_COLUMNS}
    return update(table).where(table.c.id == bindparam("b_id")).values(values)


def _rotated(ring: crypto.KeyRing, row: Any, report: RotationReport) -> dict[str, Any] | None:
    change: dict[str, Any] = {"b_id": row["id"]}
    was_plain = was_old = False
    for name in (*TEXT_COLUMNS, *BINARY_COLUMNS):
        value = row[name]
        if value is None or len(value) == 0:
            change[f"v_{name}"] = value
            continue
        data = value.encode() if isinstance(value, str) else bytes(value)
        if ring.is_current(data):
            change[f"v_{name}"] = value
            continue
        was_plain |= not crypto.is_encrypted(data)
        was_old |= crypto.is_encrypted(data)
        rotated = ring.rotate(data)
        change[f"v_{name}"] = rotated.decode("ascii") if isinstance(value, str) else rotated
    if not (was_plain or was_old):
        return None
    report.encrypted += was_plain and not was_old
    report.reencrypted += was_old
    return change


async def encryption_status(db: Database) -> dict[str, int]:
    """How many emails have plaintext bodies or raw sources (the security audit's "unencrypted data" check)."""
    table = cast(Table, EmailRow.__table__)
    plain = 0
    total = 0
    last_id = 0
    while True:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(table.c.id, type_coerce(table.c.body_text, Text()), type_coerce(table.c.raw, LargeBinary()))
                    .where(table.c.id > last_id)
                    .order_by(table.c.id)
                    .limit(1000)
                )
            ).all()
        if not rows:
            return {"emails": total, "unencrypted": plain}
        for _id, body, raw in rows:
            total += 1
            plain += any(value and not crypto.is_encrypted(value) for value in (body, bytes(raw or b"")))
        last_id = rows[-1][0]
