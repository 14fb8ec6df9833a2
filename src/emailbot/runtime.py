"""Builds the running parts from the settings, once, for the API, the CLI and the tests alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emailbot.autonomy.service import CachedGate, target_of
from emailbot.classifiers.base import Classifier
from emailbot.classifiers.registry import build_classifier, build_reply_writer
from emailbot.domain import Address
from emailbot.escalations.sla import SlaMonitor, SlaPolicy
from emailbot.jobs.engine import Engine, EngineTiming
from emailbot.jobs.queue import MemoryQueue, WorkQueue
from emailbot.mail.base import Mailbox
from emailbot.mail.registry import open_mailbox
from emailbot.mail.shadow import ShadowMailbox
from emailbot.notify.registry import Notifications, build_notifications
from emailbot.ops.alerts import AlertSink, LogAlertSink, StoredAlertSink
from emailbot.ops.state import OpsState
from emailbot.pipeline.act import EffectRunner, Planner, ShadowRunner
from emailbot.pipeline.parse import parse_email
from emailbot.pipeline.process import EngineConfig, Processor
from emailbot.pipeline.templates import ReplyTemplates
from emailbot.settings import Settings
from emailbot.store import crypto
from emailbot.store.db import Database
from emailbot.store.tables import utcnow
from emailbot.taxonomy import Taxonomy, load_taxonomy


@dataclass
class Runtime:
    settings: Settings
    db: Database
    mailbox: Mailbox
    classifier: Classifier
    taxonomy: Taxonomy
    config: EngineConfig
    processor: Processor
    queue: WorkQueue
    engine: Engine
    alerts: AlertSink = field(default_factory=LogAlertSink)
    started_at: datetime = field(default_factory=utcnow)
    ops: OpsState = field(default_factory=OpsState)
    overrides: dict[str, Any] = field(default_factory=dict)  # run-time settings without a home in a component
    notifications: Notifications | None = None

    async def close(self) -> None:
        await self.engine.stop()
        if isinstance(self.alerts, StoredAlertSink):
            await self.alerts.close()
        close_mailbox = getattr(self.mailbox, "aclose", None)
        if close_mailbox is not None:
            await close_mailbox()
        if self.notifications is not None:
            await self.notifications.aclose()
        await self.db.dispose()
        close_classifier = getattr(self.classifier, "close", None)
        if close_classifier is not None:  # the LLM client's connections
            await close_classifier()


def build_runtime(settings: Settings) -> Runtime:
    crypto.configure_from_secret(settings.encryption_key.get_secret_value() if settings.encryption_key else None)
    taxonomy = load_taxonomy(settings.taxonomy_file)
    db = Database(settings.database_url)
    mailbox = open_mailbox(settings, db)
    if settings.mode == "shadow":
        mailbox = ShadowMailbox(mailbox)  # reads, never writes: not even the "seen" of an acknowledgement
    classifier = build_classifier(settings)
    config = engine_config(settings, taxonomy)
    # A connector that groups its calls (Graph's $batch) does best when a whole batch of emails acts at once.
    config.concurrency = max(config.concurrency, getattr(mailbox, "acting_concurrency", 0))
    planner = build_planner(settings, taxonomy)
    writer = build_reply_writer(settings, classifier)
    runtime: Runtime | None = None

    def alerts() -> AlertSink:
        """The runtime's sink as it is when an alert is raised (it may be replaced after start-up)."""
        return runtime.alerts if runtime is not None else LogAlertSink()

    notifications = build_notifications(settings, db, alerts)
    runner = ShadowRunner() if settings.mode == "shadow" else EffectRunner(mailbox, notifications.notifiers)
    processor = Processor(db, classifier, planner, runner, config, writer)
    queue = MemoryQueue()
    engine = Engine(db, mailbox, parse_email, processor, queue, engine_timing(settings))
    sla = SlaMonitor(db, SlaPolicy.from_settings(settings), alerts)
    engine.add_periodic("escalation-sla", settings.escalation_sla_check_seconds, sla.check_once)
    runtime = Runtime(settings, db, mailbox, classifier, taxonomy, config, processor, queue, engine)
    runtime.notifications = notifications
    runtime.alerts = StoredAlertSink(
        db, cooldown_seconds=settings.alert_cooldown_seconds, webhook_urls=settings.alert_webhook_urls
    )
    bind_alerts = getattr(classifier, "bind_alerts", None)
    if bind_alerts is not None:  # the LLM classifier reports an open circuit or a spent budget
        bind_alerts(runtime.alerts)
    if settings.classifier != "local":
        from emailbot.classifiers.llm.factory import attach_spending_history

        attach_spending_history(classifier, db)  # the daily LLM budget survives a restart
    return runtime


def build_planner(settings: Settings, taxonomy: Taxonomy) -> Planner:
    return Planner(
        taxonomy,
        ReplyTemplates(taxonomy.template_dirs),
        mailbox_name=settings.mailbox_display_name,
        default_members=settings.escalation_default_members,
        base_url=settings.base_url,
        written_auto_send=frozenset(settings.llm_auto_send_categories),
        mailbox_address=Address(settings.mailbox_address).email,
        noise_folder=settings.noise_folder,
    )


def engine_timing(settings: Settings) -> EngineTiming:
    return EngineTiming(
        poll_interval=settings.poll_interval_seconds,
        sweep_interval=min(5.0, settings.lease_seconds / 2),
        batch_size=settings.batch_size,
        workers=settings.worker_concurrency,
    )


def engine_config(settings: Settings, taxonomy: Taxonomy) -> EngineConfig:
    return EngineConfig(
        thresholds=settings.thresholds,
        mailbox_address=Address(settings.mailbox_address).email,
        max_replies_per_sender_per_hour=settings.max_replies_per_sender_per_hour,
        max_attempts=settings.max_attempts,
        lease_seconds=settings.lease_seconds,
        concurrency=settings.worker_concurrency,
        no_auto_reply_categories=frozenset(n for n, spec in taxonomy.categories.items() if not spec.auto_reply),
        max_auto_replies_per_conversation=settings.max_auto_replies_per_conversation,
        shadow=settings.mode == "shadow",
        autonomy=autonomy_gate(settings, taxonomy),
        noise_threshold=settings.noise_threshold,
        escalation_min_confidence=settings.escalation_min_confidence,
    )


def autonomy_gate(settings: Settings, taxonomy: Taxonomy) -> CachedGate | None:
    """Earned autonomy (the default) reads the reviews and admins' overrides; `always` lets every category send."""
    if settings.autonomy == "always":
        return None
    return CachedGate(taxonomy.names, target_of(settings))
