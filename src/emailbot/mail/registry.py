"""Config name → mailbox connector, imported only when chosen."""

from __future__ import annotations

from emailbot.mail.base import Mailbox
from emailbot.settings import Settings


def open_mailbox(settings: Settings) -> Mailbox:
    if settings.mailbox == "local":
        from emailbot.mail.maildir import mailbox_from_settings

        return mailbox_from_settings(settings)
    raise ValueError(f"EMAILBOT_MAILBOX: unknown mailbox {settings.mailbox!r}")
