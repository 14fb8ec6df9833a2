"""The state machine: received → classifying → routing → responding|escalating → completed|failed.

Each step is written to the database before the next starts, so a worker killed anywhere resumes from the last
stored state: a classification is never paid for twice, an intent never planned twice, a side effect never done
twice (its idempotency key makes the connector's second call a no-op).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.classifiers.base import Classifier
from emailbot.domain import Action, Classification, Decision, Email, Rule, Status, Thresholds
from emailbot.escalations.threads import active_escalations_by_email, count_follow_up
from emailbot.mail.base import MailboxError
from emailbot.notify.base import NotifyError
from emailbot.pipeline import conversation
from emailbot.pipeline.act import Effect, EffectRunner, Planner, ReplyWriter, ShadowRunner, WrittenReply
from emailbot.pipeline.route import AutonomyGate, RoutingContext, route
from emailbot.pipeline.templates import TemplateRenderError
from emailbot.store import work
from emailbot.store.convert import classification_row, email_from_row
from emailbot.store.db import Database
from emailbot.store.tables import EscalationRow, SideEffectRow, utcnow

log = logging.getLogger(__name__)
PERMANENT_ERRORS = (TemplateRenderError,)
# Which categories may auto-send, read from the database for the current auto threshold (emailbot.autonomy).
AutonomySource = Callable[[AsyncSession, float], Awaitable[AutonomyGate]]


@dataclass
class EngineConfig:
    """What the engine reads on every batch; the API may change the routing values at run time."""

    thresholds: Thresholds
    mailbox_address: str
    max_replies_per_sender_per_hour: int = 3
    max_attempts: int = 5
    lease_seconds: float = 120
    concurrency: int = 4
    no_auto_reply_categories: frozenset[str] = field(default_factory=frozenset)
    max_auto_replies_per_conversation: int = 1
    shadow: bool = False  # decide and record everything, carry nothing out (EMAILBOT_MODE=shadow)
    autonomy: AutonomySource | None = None  # None: every category may auto-send (EMAILBOT_AUTONOMY=always)
    noise_threshold: float = 30.0
    escalation_min_confidence: float | None = None


@dataclass
class BatchOutcome:
    completed: int = 0
    failed: int = 0
    retrying: int = 0


class Processor:
    def __init__(
        self,
        db: Database,
        classifier: Classifier,
        planner: Planner,
        runner: EffectRunner | ShadowRunner,
        config: EngineConfig,
        writer: ReplyWriter | None = None,
    ) -> None:
        self.db = db
        self.classifier = classifier
        self.planner = planner
        self.runner = runner
        self.config = config
        self.writer = writer  # writes reply text (LLM drafts); None: templates only

    async def process(self, email_ids: Sequence[int]) -> BatchOutcome:
        outcome = BatchOutcome()
        async with self.db.transaction() as session:
            claimed = await work.claim(session, email_ids, self.config.lease_seconds)
            rows = await work.load_emails(session, list(claimed))
        if not claimed:
            return outcome
        emails = {email_id: email_from_row(row) for email_id, row in rows.items()}
        await self._give_up_on_exhausted(claimed, outcome)
        fresh = [i for i, (status, _) in claimed.items() if status in (Status.RECEIVED, Status.CLASSIFYING)]
        classified = await self._classify(fresh, emails, claimed, outcome)
        routing = [i for i, (status, _) in claimed.items() if status == Status.ROUTING]
        await self._route(classified, routing, emails, claimed, outcome)
        acting = [i for i, (status, _) in claimed.items() if status in (Status.RESPONDING, Status.ESCALATING)]
        await self._act(acting, emails, claimed, outcome)
        return outcome

    async def _give_up_on_exhausted(self, claimed: dict[int, tuple[str, int]], outcome: BatchOutcome) -> None:
        """An email that keeps killing its worker must not be retried for ever."""
        for email_id, (_, attempts) in list(claimed.items()):
            if attempts > self.config.max_attempts:
                await self._fail(email_id, f"gave up after {attempts - 1} attempts", claimed, outcome, final=True)

    async def _classify(
        self,
        fresh: list[int],
        emails: dict[int, Email],
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
    ) -> dict[int, Classification]:
        if not fresh:
            return {}
        async with self.db.transaction() as session:
            await work.set_status(session, fresh, Status.CLASSIFYING)
        try:
            results = await self.classifier.classify([emails[i] for i in fresh])
        except Exception as exc:  # noqa: BLE001 - any classifier failure is retried, never lost
            log.exception("classifier failed on a batch of %d", len(fresh))
            for email_id in fresh:
                await self._fail(email_id, f"classification failed: {exc}", claimed, outcome)
            return {}
        classified = dict(zip(fresh, results, strict=True))
        async with self.db.transaction() as session:
            await work.add_classifications(session, [classification_row(i, c) for i, c in classified.items()])
            await work.update_each(
                session,
                {
                    email_id: {
                        "status": Status.ROUTING.value,
                        "category": c.category,
                        "confidence": c.confidence,
                    }
                    for email_id, c in classified.items()
                },
            )
        return classified

    async def _route(
        self,
        classified: dict[int, Classification],
        routing: list[int],
        emails: dict[int, Email],
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
    ) -> None:
        """Decide and plan every email of the batch, then store all plans in one transaction, in bulk.

        Replies a model writes (LLM drafts) are written between deciding and storing, outside any transaction:
        a slow model must not hold the database.
        """
        async with self.db.transaction() as session:
            classified = classified | await work.stored_classifications(session, routing)
            if not classified:
                return
            # A follow-up in the thread of an active escalation joins it instead of opening another.
            escalations = await active_escalations_by_email(session, {i: emails[i] for i in classified})
            tracker = await conversation.track(session, {i: emails[i] for i in classified})
            decisions = await self._decide(session, classified, emails, escalations, tracker)
            to_write = self._needing_text(classified, decisions)
            if not to_write:
                await self._store_plans(session, classified, decisions, emails, {}, escalations, claimed, outcome)
                return
            threads = await work.earlier_in_thread(session, {i: emails[i] for i in to_write})
        written = await self._write_replies(to_write, classified, emails, threads)
        async with self.db.transaction() as session:
            await self._store_plans(session, classified, decisions, emails, written, escalations, claimed, outcome)

    async def _decide(
        self,
        session: AsyncSession,
        classified: dict[int, Classification],
        emails: dict[int, Email],
        escalations: dict[int, int],
        tracker: conversation.ConversationTracker,
    ) -> dict[int, Decision]:
        rules = await work.active_rules(session)
        senders = [e.sender.email for i in classified if (e := emails[i]).sender]
        replies = Counter(await work.replies_in_last_hour(session, senders))
        source = self.config.autonomy
        gate = await source(session, self.config.thresholds.auto) if source is not None else None
        decisions: dict[int, Decision] = {}
        for email_id in sorted(classified, key=lambda i: (emails[i].received_at, i)):  # an answer after its original
            email = emails[email_id]
            sender = email.sender.email.lower() if email.sender else ""
            context = self._context(rules, replies[sender], escalations.get(email_id), gate)
            context = replace(context, conversation=tracker.facts_for(email_id))
            decisions[email_id] = decision = route(email, classified[email_id], context)
            tracker.record(email_id, decision)
            if decision.action == Action.AUTO_HANDLE:
                replies[sender] += 1
        return decisions

    def _needing_text(self, classified: dict[int, Classification], decisions: dict[int, Decision]) -> list[int]:
        if self.writer is None:
            return []
        return [i for i, decision in decisions.items() if self.planner.wants_written_reply(classified[i], decision)]

    async def _write_replies(
        self,
        email_ids: list[int],
        classified: dict[int, Classification],
        emails: dict[int, Email],
        threads: dict[int, list[Email]],
    ) -> dict[int, WrittenReply]:
        writer = self.writer
        assert writer is not None
        limit = asyncio.Semaphore(max(self.config.concurrency, 8))

        async def write(email_id: int) -> WrittenReply | None:
            async with limit:
                try:
                    return await writer.write(emails[email_id], classified[email_id], threads.get(email_id, []))
                except Exception:  # noqa: BLE001 - no written text means the template is used
                    log.exception("writing a reply for email %s failed; using the template", email_id)
                    return None

        results = await asyncio.gather(*(write(i) for i in email_ids))
        return {i: text for i, text in zip(email_ids, results, strict=True) if text is not None}

    async def _store_plans(
        self,
        session: AsyncSession,
        classified: dict[int, Classification],
        decisions: dict[int, Decision],
        emails: dict[int, Email],
        written: dict[int, WrittenReply],
        escalations: dict[int, int],
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
    ) -> None:
        updates: dict[int, dict[str, Any]] = {}
        effects: list[dict[str, Any]] = []
        for email_id, classification in classified.items():
            decision = decisions[email_id]
            text = written.get(email_id)
            try:
                updates[email_id] = await self._plan(
                    session,
                    email_id,
                    emails[email_id],
                    classification,
                    decision,
                    effects,
                    text,
                    escalations.get(email_id),
                )
                claimed[email_id] = (_acting_status(decision), claimed[email_id][1])
            except PERMANENT_ERRORS as exc:
                await work.record_failure(session, email_id, str(exc), retry_in=None)
                claimed[email_id] = (Status.FAILED, claimed[email_id][1])
                outcome.failed += 1
        await work.add_effects(session, effects)
        await conversation.remember_planned_replies(session, effects)
        await work.update_each(session, updates)

    def _context(
        self,
        rules: tuple[Rule, ...],
        replies_last_hour: int,
        active_escalation_id: int | None = None,
        autonomy: AutonomyGate | None = None,
    ) -> RoutingContext:
        return RoutingContext(
            thresholds=self.config.thresholds,
            mailbox_address=self.config.mailbox_address,
            rules=rules,
            replies_to_sender_last_hour=replies_last_hour,
            max_replies_per_sender_per_hour=self.config.max_replies_per_sender_per_hour,
            no_auto_reply_categories=self.config.no_auto_reply_categories,
            active_escalation_id=active_escalation_id,
            max_auto_replies_per_conversation=self.config.max_auto_replies_per_conversation,
            autonomy=autonomy,
            noise_threshold=self.config.noise_threshold,
            escalation_min_confidence=self.config.escalation_min_confidence,
        )

    async def _plan(
        self,
        session: AsyncSession,
        email_id: int,
        email: Email,
        classification: Classification,
        decision: Decision,
        effects: list[dict[str, Any]],
        written: WrittenReply | None = None,
        thread_escalation_id: int | None = None,
    ) -> dict[str, Any]:
        """Plan one email's side effects into `effects`; returns its processing row's new values."""
        if self.config.shadow:
            return self._shadow_plan(email_id, email, classification, decision, written)
        escalation_id = None
        follow_up = decision.action == Action.ESCALATE and thread_escalation_id is not None
        if follow_up and thread_escalation_id is not None:
            escalation_id = thread_escalation_id
            await count_follow_up(session, escalation_id)
        elif decision.action == Action.ESCALATE:
            escalation_id = await self._store_escalation(session, email_id, email, classification, decision)
        plan = self.planner.plan(email_id, email, classification, decision, escalation_id, written, follow_up=follow_up)
        effects.extend(
            {"idempotency_key": e.key, "email_id": email_id, "kind": e.kind, "payload": e.payload} for e in plan.effects
        )
        return {
            "status": _acting_status(decision).value,
            "action": decision.action.value,
            "reason": decision.reason,
            "noise": decision.noise,
            "response_text": plan.response_text,
            "escalation_id": escalation_id,
            "draft_tokens": written.tokens if written else 0,
            "draft_cost": written.cost if written else 0.0,
            "assigned_to": decision.assigned_to,
        }

    def _shadow_plan(
        self,
        email_id: int,
        email: Email,
        classification: Classification,
        decision: Decision,
        written: WrittenReply | None,
    ) -> dict[str, Any]:
        """What would have been done, with the reply text it would have sent; no intent is stored, so nothing
        (reply, draft, chat, webhook, mark, move) can be carried out, now or by a later retry."""
        plan = self.planner.plan(email_id, email, classification, decision, None, written)
        return {
            "status": _acting_status(decision).value,
            "action": decision.action.value,
            "reason": decision.reason,
            "response_text": plan.response_text,
            "escalation_id": None,
            "draft_tokens": written.tokens if written else 0,
            "draft_cost": written.cost if written else 0.0,
            "assigned_to": decision.assigned_to,
            "shadow": True,
        }

    async def _store_escalation(
        self,
        session: AsyncSession,
        email_id: int,
        email: Email,
        classification: Classification,
        decision: Decision,
    ) -> int:
        plan = self.planner.escalation(email, classification)
        row = EscalationRow(
            email_id=email_id,
            name=plan.name,
            category=classification.category,
            urgency=str(classification.urgency),
            reason=decision.reason,
            summary=plan.summary,
            members=list(plan.members),
            thread_id=email.thread_id or email.message_id,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        return row.id

    async def _act(
        self,
        acting: list[int],
        emails: dict[int, Email],
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
    ) -> None:
        if not acting:
            return
        async with self.db.transaction() as session:
            # Side effects can be slow (an SMTP relay, a chat service): the lease must outlast them.
            await work.extend_lease(session, acting, self.config.lease_seconds)
            rows = await work.pending_effects(session, acting)
        by_email: dict[int, list[SideEffectRow]] = {email_id: [] for email_id in acting}
        for row in rows:
            by_email[row.email_id or 0].append(row)
        limit = asyncio.Semaphore(self.config.concurrency)
        results = await asyncio.gather(
            *(self._run_effects(limit, emails[i], effects) for i, effects in by_email.items())
        )
        await self._finish(dict(zip(by_email, results, strict=True)), claimed, outcome)

    async def _run_effects(
        self, limit: asyncio.Semaphore, email: Email, effects: list[SideEffectRow]
    ) -> tuple[dict[int, str], SideEffectRow | None, Exception | None]:
        """Carry out an email's effects in order; stop at the first failure."""
        done: dict[int, str] = {}
        async with limit:
            for row in effects:
                try:
                    effect = Effect(row.kind, row.idempotency_key, row.payload)
                    done[row.id] = await self.runner.run(effect, email.source_id)
                except Exception as exc:  # noqa: BLE001 - recorded on the email and retried
                    return done, row, exc
        return done, None, None

    async def _finish(
        self,
        results: dict[int, tuple[dict[int, str], SideEffectRow | None, Exception | None]],
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
    ) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            await work.mark_effects_done(session, {k: v for done, _, _ in results.values() for k, v in done.items()})
            completed = []
            for email_id, (_, failed_row, error) in results.items():
                if failed_row is None or error is None:
                    completed.append(email_id)
                    continue
                permanent = _is_permanent(error)
                await work.mark_effect_failed(session, failed_row.id, str(error), permanent=permanent)
                failure = f"{failed_row.kind}: {error}"
                await self._record_failure(session, email_id, failure, claimed, outcome, final=permanent)
            await self._complete(session, completed, now)
            outcome.completed += len(completed)

    async def _complete(self, session: AsyncSession, email_ids: list[int], now: datetime) -> None:
        if not email_ids:
            return
        started = await work.started_at(session, email_ids)
        sent = await work.emails_with_reply_sent(session, email_ids)
        await work.update_each(
            session,
            {
                email_id: {
                    "status": Status.COMPLETED.value,
                    "completed_at": now,
                    "lease_until": None,
                    "error": None,
                    "response_sent": email_id in sent and not self.config.shadow,
                    "processing_time_ms": (now - started.get(email_id, now)).total_seconds() * 1000,
                }
                for email_id in email_ids
            },
        )

    async def _fail(
        self,
        email_id: int,
        error: str,
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
        *,
        final: bool = False,
    ) -> None:
        async with self.db.transaction() as session:
            await self._record_failure(session, email_id, error, claimed, outcome, final=final)

    async def _record_failure(
        self,
        session: AsyncSession,
        email_id: int,
        error: str,
        claimed: dict[int, tuple[str, int]],
        outcome: BatchOutcome,
        *,
        final: bool,
    ) -> None:
        attempts = claimed[email_id][1]
        final = final or attempts >= self.config.max_attempts
        retry_in = None if final else min(2.0**attempts, 300.0)
        await work.record_failure(session, email_id, error, retry_in=retry_in)
        claimed[email_id] = (Status.FAILED if final else claimed[email_id][0], attempts)
        outcome_text = "failed" if final else "will be retried"
        log.warning("email %s %s: %s", email_id, outcome_text, error, extra={"email_id": email_id})
        if final:
            outcome.failed += 1
        else:
            outcome.retrying += 1


def _acting_status(decision: Decision) -> Status:
    return Status.ESCALATING if decision.action == Action.ESCALATE else Status.RESPONDING


def _is_permanent(error: Exception) -> bool:
    if isinstance(error, MailboxError | NotifyError):
        return error.permanent
    return isinstance(error, PERMANENT_ERRORS)
