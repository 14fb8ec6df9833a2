"""The schema. Alembic migrations in `migrations/` are generated from these classes and checked in CI."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from emailbot.store.crypto import EncryptedBytes, EncryptedText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both engines: SQLite stores no zone, so one is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class ConversationRow(Base):
    """A conversation: the emails in and out that thread together (Message-IDs, In-Reply-To, References, the
    connector's conversation id). Its members are the emails whose `conversation_id` points here."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationKeyRow(Base):
    """Every id a conversation is known by: member Message-IDs, EmailBot's own replies' Message-IDs, and
    `conv:<connector id>`. A new email whose ids name any of them belongs to that conversation."""

    __tablename__ = "conversation_keys"

    key: Mapped[str] = mapped_column(String(998), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)


class EmailRow(Base):
    """An email as received (raw source kept) and as parsed."""

    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("mailbox", "source_id", name="uq_emails_mailbox_source_id"),
        Index("ix_emails_received_datetime", "received_datetime"),
        Index("ix_emails_sender", "sender"),
        Index("ix_emails_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(998))
    thread_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(default=list)
    sender: Mapped[str | None] = mapped_column(String(320))
    sender_name: Mapped[str] = mapped_column(String(300), default="")
    reply_to: Mapped[list[Any]] = mapped_column(default=list)
    recipients: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str] = mapped_column(Text, default="")
    received_datetime: Mapped[datetime]
    importance: Mapped[str] = mapped_column(String(10), default="normal")
    body_text: Mapped[str] = mapped_column(EncryptedText, default="")
    clean_text: Mapped[str] = mapped_column(EncryptedText, default="")
    body_html: Mapped[str | None] = mapped_column(EncryptedText)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    loop_signals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parse_error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(EncryptedBytes)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when data retention scrubbed the personal data (bodies, raw source, addresses, subject).
    anonymized_at: Mapped[datetime | None]
    # The connector's own conversation id (Graph's conversationId), when it has one.
    source_conversation_id: Mapped[str | None] = mapped_column(String(500))
    # Set when routing first placed the email in a conversation (store/conversations.py).
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ProcessingResultRow(Base):
    """One per email: where it is in the pipeline, what was done, and the lease of the worker holding it."""

    __tablename__ = "processing_results"
    __table_args__ = (
        Index("ix_processing_results_status_due", "status", "next_attempt_at"),
        Index("ix_processing_results_completed_at", "completed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="received")
    action: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    noise: Mapped[str] = mapped_column(String(20), default="")  # NO_ACTION: the kind of noise
    category: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    response_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    response_text: Mapped[str | None] = mapped_column(Text)
    draft_ref: Mapped[str | None] = mapped_column(String(500))
    escalation_id: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    processing_time_ms: Mapped[float | None] = mapped_column(Float)
    draft_tokens: Mapped[int] = mapped_column(Integer, default=0)  # an LLM-written draft's prompt + completion
    draft_cost: Mapped[float] = mapped_column(Float, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Decided in shadow mode: recorded as it would have been done, nothing carried out.
    shadow: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The person whose review queue the email is in (the one who handles its conversation), if any.
    assigned_to: Mapped[str | None] = mapped_column(String(200), index=True)


class ClassificationRow(Base):
    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(10))
    suggested_action: Mapped[str] = mapped_column(Text, default="")
    required_expertise: Mapped[list[Any]] = mapped_column(default=list)
    estimated_effort: Mapped[str] = mapped_column(String(50), default="")
    language: Mapped[str] = mapped_column(String(10), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    classifier: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    unrecognized: Mapped[float] = mapped_column(Float, default=0)
    prompt_version: Mapped[str] = mapped_column(String(50), default="")
    raw_confidence: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float, default=0)
    request_confidence: Mapped[float] = mapped_column(Float, default=100)
    noise: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SideEffectRow(Base):
    """The outbox: every side effect is written here with its idempotency key before it is carried out."""

    __tablename__ = "side_effects"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class EscalationRow(Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    urgency: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[Any]] = mapped_column(default=list)
    chat_id: Mapped[str | None] = mapped_column(String(300))
    chat_url: Mapped[str | None] = mapped_column(Text)
    notifier: Mapped[str | None] = mapped_column(String(50))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    thread_id: Mapped[str | None] = mapped_column(String(998), index=True)
    unknown_members: Mapped[list[Any]] = mapped_column(default=list)
    follow_ups: Mapped[int] = mapped_column(Integer, default=0)
    sla_alerted_at: Mapped[datetime | None]


class EmailPatternRow(Base):
    __tablename__ = "email_patterns"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(100))
    frequency: Mapped[int] = mapped_column(Integer, default=0)
    automation_potential: Mapped[float] = mapped_column(Float, default=0)
    sample_subjects: Mapped[list[Any]] = mapped_column(default=list)
    suggested_automation: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FeedbackRow(Base):
    """A person's correction of a category, or approval, edit or rejection of a draft."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    original_category: Mapped[str | None] = mapped_column(String(100))
    corrected_category: Mapped[str | None] = mapped_column(String(100))
    original_text: Mapped[str | None] = mapped_column(Text)
    edited_text: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ProcessingRuleRow(Base):
    __tablename__ = "processing_rules"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sender: Mapped[str | None] = mapped_column(String(320))
    domain: Mapped[str | None] = mapped_column(String(255))
    subject_contains: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    template: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncCursorRow(Base):
    """Where a connector is in its source (a Graph delta link, say), so a restart resumes."""

    __tablename__ = "sync_cursors"

    mailbox: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLogRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SystemStateRow(Base):
    """Operational state shared by every process: the processing pause flag, key-rotation progress."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetentionAggregateRow(Base):
    """How many emails data retention deleted, per day received, category and action, so totals survive."""

    __tablename__ = "retention_aggregates"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    action: Mapped[str] = mapped_column(String(30), primary_key=True)
    emails: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRow(Base):
    """An alert as raised; a repeat within the cool-down is counted on the open row instead of sent again."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_key_created_at", "key", "created_at"),
        Index("ix_alerts_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(10))
    component: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    delivery_status: Mapped[str] = mapped_column(String(20), default="pending")
    delivery_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]


class SystemMetricRow(Base):
    """One monitoring-cycle sample: resources, storage, queue and API traffic since the previous sample."""

    __tablename__ = "system_metrics"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    cpu_percent: Mapped[float] = mapped_column(Float)
    memory_percent: Mapped[float] = mapped_column(Float)
    disk_percent: Mapped[float] = mapped_column(Float)
    disk_free_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_bytes: Mapped[int] = mapped_column(BigInteger)
    queue_size: Mapped[int] = mapped_column(Integer, default=0)
    api_requests: Mapped[int] = mapped_column(Integer, default=0)
    api_errors: Mapped[int] = mapped_column(Integer, default=0)
    api_response_ms_sum: Mapped[float] = mapped_column(Float, default=0)


class DailyMetricRow(Base):
    """Daily aggregates per category and action, materialized so analytics over months stay fast.

    `received` counts emails by the day they arrived (kept in the day's ("", "") row); the other counts by the day
    their processing ended. Category and action are "" when not (yet) known.
    """

    __tablename__ = "daily_metrics"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    action: Mapped[str] = mapped_column(String(30), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    processing_ms_sum: Mapped[float] = mapped_column(Float, default=0)
    processing_count: Mapped[int] = mapped_column(Integer, default=0)
    confidence_sum: Mapped[float] = mapped_column(Float, default=0)
    confidence_count: Mapped[int] = mapped_column(Integer, default=0)
    confidence_below_40: Mapped[int] = mapped_column(Integer, default=0)
    confidence_40_59: Mapped[int] = mapped_column(Integer, default=0)
    confidence_60_84: Mapped[int] = mapped_column(Integer, default=0)
    confidence_85_up: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is kept (the key is random, so a fast hash is enough); the prefix names it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UiSessionRow(Base):
    """A dashboard sign-in: the cookie holds a random token, the table its hash and the session's CSRF token."""

    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    flash: Mapped[str | None] = mapped_column(Text)  # the outcome of the last action, shown once on the next page
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class RuntimeSettingRow(Base):
    """A setting changed at run time (PUT /config/settings); it overrides the environment from then on."""

    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationDeliveryRow(Base):
    """One escalation notice to one target (a webhook, a Teams chat): what happened, so an operator can see why."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("idempotency_key", "target", name="uq_notification_deliveries_key_target"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    escalation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationTargetRow(Base):
    """A target's stored state: a target that failed for good stays disabled until an operator enables it."""

    __tablename__ = "notification_targets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EncryptedSecretRow(Base):
    """Secrets EmailBot obtains itself (the Teams service account's token cache), encrypted with Fernet."""

    __tablename__ = "encrypted_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutonomyOverrideRow(Base):
    """An admin's hand on a category's auto-send: `granted` before reviews earn it, or `revoked` whatever they say.

    No row: the reviews decide. The history of changes is in the audit log.
    """

    __tablename__ = "autonomy_overrides"

    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
