"""Email text is untrusted: before it goes into a card, a Slack message or a chat it is made inert here.

Each target has its own way to be tricked (Slack mentions and links, Markdown links in cards, HTML in Teams chat
messages); the formatters call the neutralizer for their target and never embed raw email text.
"""

from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SLACK_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"


def plain(text: str, limit: int = 1000) -> str:
    """Printable text of bounded length: control and bidirectional-override characters removed."""
    cleaned = _CONTROL.sub("", text or "").strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def slack_mrkdwn(text: str, limit: int = 1000) -> str:
    """Slack escapes &, < and > (which also disarms <!channel> and <url|label>); broadcast words are broken."""
    escaped = plain(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_BROADCAST.sub(lambda m: f"@{ZERO_WIDTH_SPACE}{m.group(1)}", escaped)


def teams_html(text: str, limit: int = 2000) -> str:
    """For a Teams chat message (HTML body): everything escaped, line breaks kept."""
    return html.escape(plain(text, limit), quote=True).replace("\n", "<br>")
