"""Change-notification subscriptions as the tenant holds them, and the fan-out of a message change to the ones
that asked for it (the notifier posting them is `emailbot.sandbox.graph.notifier`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emailbot.sandbox.state.mailbox import MailMessage, User
from emailbot.sandbox.state.tenant import SandboxConfig, TenantBase, utcnow


@dataclass
class Subscription:
    id: str
    app_id: str
    resource: str
    change_types: list[str]
    notification_url: str
    lifecycle_notification_url: str | None
    client_state: str | None
    expiration: dt.datetime
    user_id: str
    folder_id: str | None
    immutable_ids: bool = False  # created with Prefer: IdType="ImmutableId": notifications carry immutable ids
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def as_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": self.expiration.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "creatorId": self.app_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }


NotificationSink = Callable[[str, dict[str, Any], Subscription], None]


class SubscriptionHub(TenantBase):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.subscriptions: dict[str, Subscription] = {}
        self.notification_sink: NotificationSink | None = None
        self.notification_log: list[dict[str, Any]] = []  # every notification post: url, payload, status

    def notify(self, user: User, message: MailMessage, change_type: str) -> None:
        """Hands a message change to the sink once per live subscription on its mailbox, folder and change type."""
        sink = self.notification_sink
        if sink is None:
            return
        now = utcnow()
        for subscription in list(self.subscriptions.values()):
            if subscription.expiration < now or subscription.user_id != user.id:
                continue
            if change_type not in subscription.change_types:
                continue
            if subscription.folder_id is not None and subscription.folder_id != message.folder_id:
                continue
            sink(change_type, _resource_data(user, message), subscription)


def _resource_data(user: User, message: MailMessage) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "immutable_id": message.immutable_id,
        "rest_id": message.rest_id,
        "etag": message.etag,
    }
