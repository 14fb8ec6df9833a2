"""Config name → mailbox connector, imported only when chosen."""

from __future__ import annotations

from emailbot.mail.base import Mailbox
from emailbot.settings import Settings
from emailbot.store.db import Database


def open_mailbox(settings: Settings, db: Database | None = None) -> Mailbox:
    if settings.mailbox == "local":
        from emailbot.mail.maildir import mailbox_from_settings

        return mailbox_from_settings(settings)
    if settings.mailbox == "graph":
        from emailbot.mail.graph.connector import mailbox_from_settings as graph_from_settings

        if db is None:
            raise ValueError("the Graph connector keeps its delta links in the database: pass the database")
        return graph_from_settings(settings, db)
    raise ValueError(f"EMAILBOT_MAILBOX: unknown mailbox {settings.mailbox!r}")
