"""Driving escalations through the real pipeline: deliver mail to the Maildir, poll, process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from emailbot.runtime import Runtime
from emailbot.store.tables import EmailRow, EscalationRow, NotificationDeliveryRow, ProcessingResultRow
from tests.factories import rfc822

OUTAGE_SUBJECT = "Production database is down"
OUTAGE_BODY = "The whole ERP system is down, all 300 users cannot work. Outage! Please escalate urgently."


async def deliver_and_process(runtime: Runtime, name: str, raw: bytes) -> None:
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)
    await runtime.engine.poll_once()
    await runtime.engine.drain()


async def escalate_outage(runtime: Runtime, name: str = "1.a", subject: str = OUTAGE_SUBJECT) -> EscalationRow:
    await deliver_and_process(runtime, name, rfc822(subject, OUTAGE_BODY))
    async with runtime.db.sessions() as session:
        return (await session.scalars(select(EscalationRow).order_by(EscalationRow.id.desc()))).first()  # type: ignore[return-value]


async def escalations(runtime: Runtime) -> list[EscalationRow]:
    async with runtime.db.sessions() as session:
        return list(await session.scalars(select(EscalationRow).order_by(EscalationRow.id)))


async def deliveries(runtime: Runtime) -> list[NotificationDeliveryRow]:
    async with runtime.db.sessions() as session:
        return list(await session.scalars(select(NotificationDeliveryRow).order_by(NotificationDeliveryRow.id)))


async def result_of(runtime: Runtime, subject: str) -> tuple[EmailRow, ProcessingResultRow]:
    async with runtime.db.sessions() as session:
        found = (
            await session.execute(
                select(EmailRow, ProcessingResultRow).join(ProcessingResultRow).where(EmailRow.subject == subject)
            )
        ).one()
        return found[0], found[1]
