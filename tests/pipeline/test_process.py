"""The whole pipeline in process: real Maildir, parser, local classifier, database and (for retries) SMTP server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select, update

from emailbot.classifiers.base import Classifier
from emailbot.demo import DEMO_MAIL, write_demo_mail
from emailbot.domain import Classification, Email
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import EmailRow, EscalationRow, ProcessingResultRow, SideEffectRow, utcnow
from tests.factories import rfc822
from tests.fakes.smtp import RecordingHandler
from tests.runtime_fixtures import deliver, sent_messages, settings_for


async def _results(runtime: Runtime) -> dict[str, ProcessingResultRow]:
    async with runtime.db.sessions() as session:
        rows = await session.execute(select(EmailRow.subject, ProcessingResultRow).join(ProcessingResultRow))
        return {subject: result for subject, result in rows}


async def test_demo_mail_takes_every_route(runtime: Runtime) -> None:
    write_demo_mail(Path(runtime.settings.local_mailbox_dir))
    assert await runtime.engine.poll_once() == len(DEMO_MAIL)
    await runtime.engine.drain()
    results = await _results(runtime)
    assert {r.status for r in results.values()} == {"completed"}
    actions = {r.action for r in results.values()}
    assert {"AUTO_HANDLE", "HUMAN_REVIEW", "ESCALATE"} <= actions
    by_kind = {sample.shows: [] for sample in DEMO_MAIL}  # type: dict[str, list[ProcessingResultRow]]
    for sample in DEMO_MAIL:
        match = [r for subject, r in results.items() if sample.subject and subject.startswith(sample.subject[:20])]
        by_kind[sample.shows].extend(match)
    assert all(r.action == "HUMAN_REVIEW" and "loop guard" in (r.reason or "") for r in by_kind["loop-guard"])
    assert by_kind["noise"]
    assert all(r.action == "NO_ACTION" for r in by_kind["noise"])
    assert all(r.action == "ESCALATE" for r in by_kind["escalation"])
    malformed = [r for r in results.values() if (r.reason or "").startswith("malformed")]
    assert len(malformed) == 1
    assert malformed[0].action == "HUMAN_REVIEW"
    replies = sent_messages(runtime)
    assert len(replies) == sum(r.response_sent for r in results.values()) > 0
    for reply in replies:
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["Subject"].startswith("Re: ")
        assert reply["In-Reply-To"]


async def test_processing_twice_changes_nothing(runtime: Runtime) -> None:
    deliver(runtime, "1.a", rfc822("Password reset", "I forgot my password, how do I reset it?"))
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    first = {s: (r.status, r.action) for s, r in (await _results(runtime)).items()}
    deliver(runtime, "1.a", rfc822("Password reset", "I forgot my password, how do I reset it?"))  # redelivered
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.sessions() as session:
        effects = (await session.scalars(select(SideEffectRow.idempotency_key))).all()
    assert {s: (r.status, r.action) for s, r in (await _results(runtime)).items()} == first
    assert len(effects) == len(set(effects))


async def test_escalation_is_recorded_with_members(runtime: Runtime) -> None:
    deliver(
        runtime,
        "1.a",
        rfc822("Production database is down", "The whole ERP system is down, all 300 users cannot work. Outage!"),
    )
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.sessions() as session:
        escalation = (await session.scalars(select(EscalationRow))).one()
        notify = (await session.scalars(select(SideEffectRow).where(SideEffectRow.kind == "notify"))).one()
    assert escalation.name.startswith("IT-ESCALATION-")
    assert "production-database-is-down" in escalation.name
    assert "incident-manager@example.com" in escalation.members
    assert escalation.status == "active"
    assert notify.status == "done"
    assert notify.payload["notice"]["escalation_id"] == escalation.id


def _runtime_with_relay(tmp_path: Path, database_url: str, port: int) -> Runtime:
    settings = settings_for(tmp_path, database_url, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    return build_runtime(settings)


async def test_transient_failure_is_kept_retried_and_then_succeeds(
    tmp_path: Path, database_url: str, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp_server
    runtime = _runtime_with_relay(tmp_path, database_url, port)
    try:
        handler.answer = "451 Try again later"
        deliver(runtime, "1.a", rfc822("How do I reset my password?", "I forgot my password. How do I reset it?"))
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        (result,) = (await _results(runtime)).values()
        assert result.action == "AUTO_HANDLE"
        assert result.status == "responding"
        assert "451" in (result.error or "")
        assert result.next_attempt_at > utcnow()
        assert handler.received == []

        handler.answer = "250 OK"
        async with runtime.db.transaction() as session:  # the retry is due now rather than after the backoff
            await session.execute(update(ProcessingResultRow).values(next_attempt_at=utcnow()))
        await runtime.engine.drain()
        (result,) = (await _results(runtime)).values()
        assert (result.status, result.response_sent, result.attempts) == ("completed", True, 2)
        assert len(handler.received) == 1
        assert len(sent_messages(runtime)) == 1
    finally:
        await runtime.close()


async def test_permanent_failure_is_final_and_keeps_the_error(
    tmp_path: Path, database_url: str, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp_server
    runtime = _runtime_with_relay(tmp_path, database_url, port)
    try:
        handler.answer = "550 No such user"
        deliver(runtime, "1.a", rfc822("How do I reset my password?", "I forgot my password. How do I reset it?"))
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        (result,) = (await _results(runtime)).values()
        assert result.status == "failed"
        assert "550" in (result.error or "")
        assert result.completed_at is not None
    finally:
        await runtime.close()


class FailingFirstClassifier:
    """Fault injection at the Classifier boundary: the first batch fails, later ones go to the real model."""

    def __init__(self, real: Classifier) -> None:
        self.name = real.name
        self.real = real
        self.calls = 0

    async def classify(self, emails: Sequence[Email]) -> list[Classification]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("model server went away")
        return await self.real.classify(emails)


async def test_classifier_failure_is_retried_not_completed(runtime: Runtime) -> None:
    failing = FailingFirstClassifier(runtime.classifier)
    runtime.processor.classifier = failing
    deliver(runtime, "1.a", rfc822("How do I reset my password?", "I forgot my password. How do I reset it?"))
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    (result,) = (await _results(runtime)).values()
    assert (result.status, result.action) == ("classifying", None)
    assert "model server went away" in (result.error or "")
    async with runtime.db.transaction() as session:
        await session.execute(update(ProcessingResultRow).values(next_attempt_at=utcnow()))
    await runtime.engine.drain()
    (result,) = (await _results(runtime)).values()
    assert (result.status, result.action, result.error) == ("completed", "AUTO_HANDLE", None)
    assert failing.calls == 2
