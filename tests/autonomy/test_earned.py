"""Earned autonomy through the real pipeline and the real review actions, on SQLite and PostgreSQL.

A fresh install auto-sends nothing: confident replies are drafts that say why. Operators' reviews of those drafts
earn a category auto-send; an admin's grant allows it at once, a revoke stops it whatever the reviews say.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy import select

from emailbot.autonomy import service
from emailbot.autonomy.service import CachedGate, Verb, target_of
from emailbot.domain import Action
from emailbot.review import actions
from emailbot.runtime import Runtime
from emailbot.store.tables import AuditLogRow, EmailRow, ProcessingResultRow
from tests.autonomy.conftest import MIN_REVIEWS
from tests.factories import rfc822

_counter = itertools.count()
PRINTER = "The printer on floor 2 is jammed again and shows error 13"


async def _process(runtime: Runtime, subject: str) -> tuple[int, ProcessingResultRow]:
    folder = Path(runtime.settings.local_mailbox_dir) / "new"
    folder.mkdir(parents=True, exist_ok=True)
    n = next(_counter)
    # A new sender each time: the loop guard's replies-per-sender limit is not what these tests are about.
    raw = rfc822(f"{subject} ({n})", f"{subject}. Could you help, please?", sender=f"user{n}@customer.example")
    (folder / f"{n}.eml").write_bytes(raw)
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.transaction() as session:
        email_id = await session.scalar(select(EmailRow.id).order_by(EmailRow.id.desc()).limit(1))
        assert email_id is not None
        result = await session.scalar(select(ProcessingResultRow).where(ProcessingResultRow.email_id == email_id))
        assert result is not None
        return email_id, result


def _forget_cached_gate(runtime: Runtime) -> None:
    assert isinstance(runtime.config.autonomy, CachedGate)
    runtime.config.autonomy.invalidate()


async def _row(runtime: Runtime, category: str) -> dict[str, object]:
    table = await service.overview(runtime)
    return next(item for item in table["items"] if item["category"] == category)


async def test_a_fresh_install_drafts_and_says_why(runtime: Runtime) -> None:
    _, result = await _process(runtime, PRINTER)
    assert result.action == Action.SUGGEST_RESPONSE.value
    assert result.reason is not None
    assert f"auto-send not yet earned for {result.category}: 0 reviews" in result.reason
    assert not result.response_sent
    assert result.response_text  # the reply is there, as a draft for a person


async def test_approved_drafts_earn_auto_send_and_a_correction_counts_against(runtime: Runtime) -> None:
    first_id, first = await _process(runtime, PRINTER)
    category = first.category
    await actions.approve(runtime, first_id, None, "op")
    second_id, _ = await _process(runtime, PRINTER)
    await actions.approve(runtime, second_id, "Edited: please restart it.", "op")  # edited still confirms
    wrong_id, _ = await _process(runtime, PRINTER)
    await actions.correct_category(runtime, wrong_id, "ESCALATION" if category != "ESCALATION" else "SUPPORT", "op")
    row = await _row(runtime, category)
    assert (row["reviews"], row["confirmed"], row["auto_send"]) == (3, 2, False)  # 66.7% < 75%
    assert row["blocked_because"] == (
        f"auto-send not yet earned for {category}: 3 reviews, 66.7% precision (needs 75.0% over {MIN_REVIEWS})"
    )
    fourth_id, fourth = await _process(runtime, PRINTER)
    assert fourth.action == Action.SUGGEST_RESPONSE.value
    await actions.confirm(runtime, fourth_id, "op")
    row = await _row(runtime, category)
    assert (row["reviews"], row["confirmed"], row["precision"], row["status"]) == (4, 3, 0.75, "earned")
    _forget_cached_gate(runtime)  # reviews reach the gate within GATE_SECONDS; the test does not wait for it
    _, fifth = await _process(runtime, PRINTER)
    assert (fifth.action, fifth.response_sent) == (Action.AUTO_HANDLE.value, True)


async def test_a_rejected_draft_counts_against(runtime: Runtime) -> None:
    email_id, result = await _process(runtime, PRINTER)
    await actions.reject(runtime, email_id, "wrong answer", "op")
    row = await _row(runtime, result.category or "")
    assert (row["reviews"], row["confirmed"]) == (1, 0)


async def test_grant_applies_to_the_next_batch_and_revoke_wins_over_reviews(runtime: Runtime) -> None:
    _, first = await _process(runtime, PRINTER)
    category = first.category or ""
    await service.change_now(runtime, category, Verb.GRANT, "alice", "trial week")
    _, granted = await _process(runtime, PRINTER)
    assert (granted.action, granted.response_sent) == (Action.AUTO_HANDLE.value, True)
    assert (await _row(runtime, category))["status"] == "granted by alice"
    for _ in range(MIN_REVIEWS):  # reviews earn it as well ...
        email_id, _ = await _process(runtime, PRINTER)
        await actions.confirm(runtime, email_id, "op")
    _forget_cached_gate(runtime)
    await service.change_now(runtime, category, Verb.REVOKE, "bob")
    _, revoked = await _process(runtime, PRINTER)  # ... but the revoke wins
    assert revoked.action == Action.SUGGEST_RESPONSE.value
    assert revoked.reason is not None
    assert revoked.reason.endswith(f"auto-send revoked for {category} by bob")
    await service.change_now(runtime, category, Verb.RESET, "bob")
    assert (await _row(runtime, category))["status"] == "earned"
    async with runtime.db.transaction() as session:
        audited = (await session.execute(select(AuditLogRow.actor, AuditLogRow.action, AuditLogRow.target))).all()
    target = f"category:{category}"
    assert [a for a in audited if a[2] == target] == [
        ("alice", "autonomy.grant", target),
        ("bob", "autonomy.revoke", target),
        ("bob", "autonomy.reset", target),
    ]


async def test_another_process_sees_a_grant_once_its_cache_expires(runtime: Runtime) -> None:
    now = [0.0]
    other = CachedGate(runtime.taxonomy.names, target_of(runtime.settings), seconds=5, clock=lambda: now[0])
    async with runtime.db.transaction() as session:
        assert "SUPPORT" not in (await other(session, 85)).allowed
    await service.change_now(runtime, "support", Verb.GRANT, "alice")  # made in "this" process
    async with runtime.db.transaction() as session:
        assert "SUPPORT" not in (await other(session, 85)).allowed  # still cached there
        now[0] = 5.0
        assert "SUPPORT" in (await other(session, 85)).allowed


async def test_coverage_counts_the_categorys_emails_at_or_above_the_threshold(runtime: Runtime) -> None:
    _, result = await _process(runtime, PRINTER)
    row = await _row(runtime, result.category or "")
    assert (row["emails"], row["emails_at_or_above_threshold"], row["coverage"]) == (1, 1, 1.0)
