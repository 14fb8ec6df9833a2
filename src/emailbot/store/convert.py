"""Between domain values and table rows, in one place."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from emailbot.domain import (
    Address,
    Attachment,
    Classification,
    Email,
    LoopSignals,
    RawMessage,
    Rule,
    RuleAction,
    Urgency,
)
from emailbot.store.tables import ClassificationRow, EmailRow, ProcessingRuleRow, utcnow


def email_row(mailbox: str, message: RawMessage, email: Email) -> dict[str, Any]:
    """Column values for a new `emails` row; the raw bytes are kept whatever the parser made of them."""
    return {
        "mailbox": mailbox,
        "source_id": message.source_id,
        "message_id": _cap(email.message_id, 998),
        "thread_id": _cap(email.thread_id, 998),
        "in_reply_to": _cap(email.in_reply_to, 998),
        "references": list(email.references),
        "sender": _cap(email.sender.email, 320) if email.sender else None,
        "sender_name": _cap(email.sender.name, 300) if email.sender else "",
        "reply_to": [asdict(address) for address in email.reply_to],
        "recipients": {"to": [asdict(a) for a in email.to], "cc": [asdict(a) for a in email.cc]},
        "subject": email.subject,
        "received_datetime": email.received_at,
        "importance": email.importance,
        "body_text": email.body_text,
        "clean_text": email.clean_text,
        "body_html": email.body_html,
        "attachments": [asdict(attachment) for attachment in email.attachments],
        "loop_signals": asdict(email.loop),
        "parse_error": email.parse_error,
        "raw": message.raw,
        "source_conversation_id": _cap(message.conversation_id, 500),
        "created_at": utcnow(),
    }


def email_from_row(row: EmailRow) -> Email:
    recipients = row.recipients or {}
    return Email(
        source_id=row.source_id,
        subject=row.subject,
        sender=Address(row.sender, row.sender_name) if row.sender else None,
        received_at=row.received_datetime,
        body_text=row.body_text,
        clean_text=row.clean_text,
        body_html=row.body_html,
        message_id=row.message_id,
        thread_id=row.thread_id,
        in_reply_to=row.in_reply_to,
        references=tuple(row.references or ()),
        reply_to=tuple(Address(**item) for item in row.reply_to or ()),
        to=tuple(Address(**item) for item in recipients.get("to", ())),
        cc=tuple(Address(**item) for item in recipients.get("cc", ())),
        importance=row.importance,
        attachments=tuple(Attachment(**item) for item in row.attachments or ()),
        loop=LoopSignals(**(row.loop_signals or {})),
        parse_error=row.parse_error,
        source_conversation_id=row.source_conversation_id,
    )


def classification_row(email_id: int, classification: Classification) -> dict[str, Any]:
    values = asdict(classification)
    values["required_expertise"] = list(classification.required_expertise)
    values["urgency"] = str(classification.urgency)
    return {"email_id": email_id, "created_at": utcnow(), **values}


def classification_from_row(row: ClassificationRow) -> Classification:
    return Classification(
        category=row.category,
        confidence=row.confidence,
        classifier=row.classifier,
        model=row.model,
        reasoning=row.reasoning,
        urgency=Urgency(row.urgency),
        suggested_action=row.suggested_action,
        required_expertise=tuple(row.required_expertise or ()),
        estimated_effort=row.estimated_effort,
        language=row.language,
        summary=row.summary,
        latency_ms=row.latency_ms,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        unrecognized=row.unrecognized,
        prompt_version=row.prompt_version,
        raw_confidence=row.raw_confidence,
        cost=row.cost,
        request_confidence=row.request_confidence,
        noise=row.noise,
    )


def rule_from_row(row: ProcessingRuleRow) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        action=RuleAction(row.action),
        priority=row.priority,
        sender=row.sender,
        domain=row.domain,
        subject_contains=row.subject_contains,
        category=row.category,
        template=row.template,
        enabled=row.enabled,
    )


def _cap(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None
