"""A Teams Workflows webhook ("When a Teams webhook request is received"): an Adaptive Card 1.5 in the
"message with attachments" envelope the Workflows trigger expects.

Untrusted text (subject, sender, summary, reasoning) goes into TextRuns of RichTextBlocks, which Teams renders
literally (no Markdown, so no smuggled links); only EmailBot's own labels use TextBlock formatting.
"""

from __future__ import annotations

from typing import Any

from emailbot.notify.base import EscalationNotice
from emailbot.notify.safe_text import plain

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
URGENCY_COLORS = {"CRITICAL": "Attention", "HIGH": "Warning", "MEDIUM": "Accent", "LOW": "Default"}


def workflow_payload(notice: EscalationNotice, chat_id: str | None = None) -> dict[str, Any]:
    """The webhook body; `emailbot` carries ids a flow can use, e.g. to post into the escalation's group chat."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(notice)}],
        "emailbot": {
            "escalation_id": notice.escalation_id,
            "email_id": notice.email_id,
            "name": notice.name,
            "chat_id": chat_id,
            "follow_up": notice.follow_up,
            "resolved": notice.resolution is not None,
        },
    }


def adaptive_card(notice: EscalationNotice) -> dict[str, Any]:
    title = notice.title
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{title}: {plain(notice.name, 200)}",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": URGENCY_COLORS.get(notice.urgency, "Default"),
        },
        _facts(notice),
        *([_labelled("Resolution", notice.resolution, 3000)] if notice.resolution is not None else []),
        _labelled("Subject", notice.subject, 300),
        _labelled("From", notice.sender, 320),
        _labelled("Summary", notice.summary, 1500),
        _labelled("AI analysis", notice.reasoning, 1500),
    ]
    if notice.recommended_actions:
        body.append(_labelled("Recommended actions", "\n".join(f"• {a}" for a in notice.recommended_actions), 1500))
    if notice.required_expertise:
        body.append(_labelled("Required expertise", ", ".join(notice.required_expertise), 500))
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    if notice.link.startswith(("https://", "http://")):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the email", "url": notice.link}]
    return card


def _facts(notice: EscalationNotice) -> dict[str, Any]:
    """Values EmailBot produced itself (category from the taxonomy, numbers), safe for a FactSet."""
    return {
        "type": "FactSet",
        "facts": [
            {"title": "Category", "value": plain(notice.category, 100)},
            {"title": "Urgency", "value": plain(notice.urgency, 20)},
            {"title": "Confidence", "value": f"{notice.confidence:.0f}%"},
            {"title": "Escalation", "value": f"#{notice.escalation_id}"},
        ],
    }


def _labelled(label: str, text: str, limit: int) -> dict[str, Any]:
    return {
        "type": "RichTextBlock",
        "inlines": [
            {"type": "TextRun", "text": f"{label}: ", "weight": "Bolder"},
            {"type": "TextRun", "text": plain(text, limit) or "-"},
        ],
    }
