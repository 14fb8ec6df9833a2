"""A Slack incoming webhook: Block Kit with a plain-text fallback.

Email text is escaped for mrkdwn (&, <, >) and broadcast mentions are broken, so an email cannot ping a channel,
inject a link or a user mention.
"""

from __future__ import annotations

from typing import Any

from emailbot.notify.base import EscalationNotice
from emailbot.notify.safe_text import plain, slack_mrkdwn

URGENCY_EMOJI = {
    "CRITICAL": ":rotating_light:",
    "HIGH": ":warning:",
    "MEDIUM": ":large_blue_circle:",
    "LOW": ":white_circle:",
}


def slack_payload(notice: EscalationNotice) -> dict[str, Any]:
    title = notice.title
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(f"{title}: {notice.name}", 150)}},
        {
            "type": "section",
            "fields": [
                _field("Category", notice.category),
                _field("Urgency", f"{URGENCY_EMOJI.get(notice.urgency, '')} {notice.urgency}".strip()),
                _field("Confidence", f"{notice.confidence:.0f}%"),
                _field("From", notice.sender),
            ],
        },
        *([_section("Resolution", notice.resolution, 2500)] if notice.resolution is not None else []),
        _section("Subject", notice.subject, 300),
        _section("Summary", notice.summary, 1500),
        _section("AI analysis", notice.reasoning, 1500),
    ]
    if notice.recommended_actions:
        blocks.append(_section("Recommended actions", "\n".join(f"• {a}" for a in notice.recommended_actions), 1500))
    if notice.required_expertise:
        blocks.append(_section("Required expertise", ", ".join(notice.required_expertise), 500))
    if notice.link.startswith(("https://", "http://")):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open the email"}, "url": notice.link}
                ],
            }
        )
    fallback = f"{title} {notice.name} ({notice.category}, {notice.urgency})"
    return {"text": slack_mrkdwn(fallback, 300), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{slack_mrkdwn(value, 300) or '-'}"}


def _section(label: str, text: str, limit: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}*\n{slack_mrkdwn(text, limit) or '-'}"}}
