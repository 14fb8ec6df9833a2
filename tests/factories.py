"""Small builders for domain values used across tests."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from emailbot.domain import Address, Classification, Email, LoopSignals, Urgency


def make_email(
    *,
    sender: str = "alice@customer.example",
    subject: str = "Printer on floor 3 is jammed",
    loop: LoopSignals | None = None,
    reply_to: tuple[Address, ...] = (),
    parse_error: str | None = None,
) -> Email:
    return Email(
        source_id="src-1",
        subject=subject,
        sender=Address(sender, "Alice") if sender else None,
        received_at=datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        body_text="The printer says paper jam.",
        clean_text="The printer says paper jam.",
        message_id="<m1@customer.example>",
        reply_to=reply_to,
        loop=loop or LoopSignals(),
        parse_error=parse_error,
    )


def make_classification(
    category: str = "SUPPORT", confidence: float = 90, urgency: Urgency = Urgency.MEDIUM
) -> Classification:
    return Classification(category=category, confidence=confidence, classifier="test", model="t", urgency=urgency)


def rfc822(
    subject: str,
    body: str,
    *,
    sender: str = "Alice Example <alice@customer.example>",
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "helpdesk@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()
