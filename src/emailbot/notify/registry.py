"""Builds the notifiers the settings ask for, in the order they run: the Teams chat first, then the webhooks.

With nothing configured the log notifier stands in, so an escalation is at least visible to operators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emailbot.notify.base import Notifier
from emailbot.notify.deliveries import AlertsProvider, Closer, DeliveryLog
from emailbot.notify.http import RetryPolicy, make_client
from emailbot.notify.log import LogNotifier
from emailbot.notify.webhooks import WebhookNotifier
from emailbot.settings import Settings
from emailbot.store.db import Database


@dataclass
class Notifications:
    notifiers: list[Notifier]
    deliveries: DeliveryLog
    clients: list[Closer] = field(default_factory=list)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def build_notifications(settings: Settings, db: Database, alerts: AlertsProvider) -> Notifications:
    deliveries = DeliveryLog(db)
    notifications = Notifications([], deliveries)
    policy = RetryPolicy(settings.notify_max_attempts, settings.notify_backoff_seconds)
    if settings.teams_chats:
        from emailbot.notify.teams_chat import build_teams_chat_notifier

        notifications.notifiers.append(
            build_teams_chat_notifier(settings, db, deliveries, alerts, notifications.clients)
        )
    if settings.notify_webhooks:
        client = make_client(settings.notify_timeout_seconds)
        notifications.clients.append(client)
        secret = settings.notify_signing_secret.get_secret_value() if settings.notify_signing_secret else None
        for target in settings.notify_webhooks:
            notifications.notifiers.append(WebhookNotifier(target, client, deliveries, alerts, policy, secret))
    if not notifications.notifiers:
        notifications.notifiers.append(LogNotifier())
    return notifications
