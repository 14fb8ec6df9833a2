"""Assembles the Microsoft 365 connector from settings: token provider, Graph client, stored state, the mailboxes
and, when a notification URL is set, their change-notification subscriptions. The mail registry imports this."""

from __future__ import annotations

from emailbot.mail.graph.auth import TokenProvider
from emailbot.mail.graph.client import GraphClient
from emailbot.mail.graph.mailbox import NAME, GraphMailboxes
from emailbot.mail.graph.state import GraphState
from emailbot.mail.graph.subscriptions import Subscriptions
from emailbot.settings import Settings
from emailbot.store.db import Database


def mailbox_from_settings(settings: Settings, db: Database) -> GraphMailboxes:
    tokens = TokenProvider(settings)
    client = GraphClient(
        settings.graph_base_url,
        tokens,
        ca_bundle=str(settings.graph_ca_bundle) if settings.graph_ca_bundle else None,
        max_concurrency=settings.graph_max_concurrency,
    )
    mailboxes = GraphMailboxes(client, GraphState(db, NAME), settings.graph_mailboxes, settings)
    if settings.graph_notification_url:
        mailboxes.subscriptions = Subscriptions(
            client, list(mailboxes.mailboxes), mailboxes.client_state, settings.graph_notification_url, settings
        )
    return mailboxes
