"""Telling the escalation's people that it was resolved: the chat and the webhooks get the resolution notes.

The announcement is an outbox side effect like any other notice (`notify:<id>:resolved`), written in the same
transaction as the resolution and carried out right after the API has answered; its outcome is recorded on the
side effect and in the deliveries.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.notify.base import EscalationNotice, NotifyError
from emailbot.pipeline.act import Effect, EffectRunner, ShadowRunner
from emailbot.store import work
from emailbot.store.db import Database
from emailbot.store.tables import EscalationRow, SideEffectRow

log = logging.getLogger(__name__)


async def plan_announcement(session: AsyncSession, escalation: EscalationRow) -> int | None:
    """Store the resolution notice as a pending side effect; returns its id (None without an opening notice)."""
    opening = await session.scalar(
        select(SideEffectRow).where(SideEffectRow.idempotency_key == f"notify:{escalation.id}")
    )
    if opening is None:
        return None
    notice = replace(
        EscalationNotice.from_payload(opening.payload["notice"]),
        follow_up=False,
        resolution=escalation.resolution_notes or "",
    )
    row = SideEffectRow(
        idempotency_key=f"notify:{escalation.id}:resolved",
        email_id=escalation.email_id,
        kind="notify",
        payload={"notice": asdict(notice)},
    )
    session.add(row)
    await session.flush()
    return row.id


async def announce(db: Database, runner: EffectRunner | ShadowRunner, effect_id: int) -> None:
    async with db.transaction() as session:
        row = await session.get(SideEffectRow, effect_id)
        if row is None or row.status != "pending":
            return
        effect = Effect(row.kind, row.idempotency_key, row.payload)
    try:
        reference = await runner.run(effect, "")
    except NotifyError as exc:
        log.warning("resolution of %s was not announced: %s", effect.key, exc)
        async with db.transaction() as session:
            await work.mark_effect_failed(session, effect_id, str(exc), permanent=True)
        return
    async with db.transaction() as session:
        await work.mark_effects_done(session, {effect_id: reference})
