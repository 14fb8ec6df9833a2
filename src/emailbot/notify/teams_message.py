"""The escalation's context message in the Teams chat: HTML with every piece of email text escaped.

The last line names the escalation and the email; a retry after an uncertain post looks for it among the chat's
recent messages instead of posting the same message twice.
"""

from __future__ import annotations

import html

from emailbot.notify.base import EscalationNotice
from emailbot.notify.safe_text import plain, teams_html


def context_message(notice: EscalationNotice, unknown_members: tuple[str, ...] = ()) -> str:
    if notice.resolution is not None:
        return resolution_message(notice)
    title = "Follow-up email in this escalation" if notice.follow_up else f"Escalation: {notice.name}"
    parts = [
        f"<p><b>{teams_html(title, 300)}</b></p>",
        "<p>"
        f"<b>Subject:</b> {teams_html(notice.subject, 300)}<br>"
        f"<b>From:</b> {teams_html(notice.sender, 320)}<br>"
        f"<b>Category:</b> {teams_html(notice.category, 100)} · <b>Urgency:</b> {teams_html(notice.urgency, 20)} · "
        f"<b>Confidence:</b> {notice.confidence:.0f}%"
        "</p>",
        f"<p><b>Summary:</b> {teams_html(notice.summary, 1500) or '-'}</p>",
        f"<p><b>AI analysis:</b> {teams_html(notice.reasoning, 1500) or '-'}</p>",
    ]
    if notice.recommended_actions:
        items = "".join(f"<li>{teams_html(action, 500)}</li>" for action in notice.recommended_actions)
        parts.append(f"<p><b>Recommended actions:</b></p><ul>{items}</ul>")
    if notice.required_expertise:
        parts.append(f"<p><b>Required expertise:</b> {teams_html(', '.join(notice.required_expertise), 500)}</p>")
    if unknown_members:
        missing = teams_html(", ".join(unknown_members), 500)
        parts.append(f"<p><i>Not found in the directory, so not added:</i> {missing}</p>")
    if notice.link.startswith(("https://", "http://")):
        parts.append(
            f'<p><a href="{html.escape(plain(notice.link, 500), quote=True)}">Open the email in EmailBot</a></p>'
        )
    parts.append(f"<p><i>{marker(notice)}</i></p>")
    return "".join(parts)


def marker(notice: EscalationNotice) -> str:
    if notice.resolution is not None:
        return f"EmailBot escalation #{notice.escalation_id} resolved"
    return f"EmailBot escalation #{notice.escalation_id} · email #{notice.email_id}"


def resolution_message(notice: EscalationNotice) -> str:
    notes = teams_html(notice.resolution or "", 3000) or "-"
    return f"<p><b>Resolved.</b></p><p><b>Resolution:</b> {notes}</p><p><i>{marker(notice)} · resolved</i></p>"
