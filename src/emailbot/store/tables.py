"""The schema. Alembic migrations in `migrations/` are generated from these classes and checked in CI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    body_text: Mapped[str] = mapped_column(Text, default="")
    clean_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    loop_signals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parse_error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
