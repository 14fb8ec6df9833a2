"""Change notifications: Graph tells EmailBot when mail arrives, so the delta query runs at once instead of at the
next poll. Polling stays on as the fallback: a lost notification only delays mail until the next poll.

One subscription per mailbox on its inbox (`created`), with a lifecycle URL. Subscriptions are created in the
background once the service is up (Graph validates the notification URL while creating, so the web server must
already answer), renewed when a quarter of their lifetime is left, renewed at once on `reauthorizationRequired`,
recreated on `subscriptionRemoved` or when a renewal finds them gone; `missed` forgets nothing, as the next delta
query returns whatever the lost notifications were about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emailbot.mail.graph.client import GraphClient
from emailbot.mail.graph.errors import GraphError
from emailbot.mail.graph.wire import GraphRequest
from emailbot.settings import Settings
from emailbot.store.tables import utcnow

log = logging.getLogger(__name__)
RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 60.0)
CHECK_EVERY_SECONDS = 60.0


@dataclass
class Subscription:
    id: str
    mailbox: str
    expires_at: datetime
    lifetime: timedelta


class Subscriptions:
    def __init__(
        self,
        client: GraphClient,
        addresses: Sequence[str],
        client_state: str,
        notification_url: str,
        settings: Settings,
    ) -> None:
        self.client = client
        self.addresses = list(addresses)
        self.client_state = client_state
        self.notification_url = notification_url.rstrip("/")
        self.lifecycle_url = f"{self.notification_url}/lifecycle"
        self.lifetime = timedelta(minutes=settings.graph_subscription_minutes)
        self.active: dict[str, Subscription] = {}  # by mailbox address
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._maintain())

    def mailbox_of(self, subscription_id: str) -> str | None:
        return next((s.mailbox for s in self.active.values() if s.id == subscription_id), None)

    async def handle_lifecycle(self, event: str, subscription_id: str) -> None:
        mailbox = self.mailbox_of(subscription_id)
        if mailbox is None:
            log.info("lifecycle %s for a subscription this process does not hold; ignored", event)
            return
        if event == "reauthorizationRequired":
            await self.renew(mailbox)
        elif event == "subscriptionRemoved":
            self.active.pop(mailbox, None)
            await self.create(mailbox)
        elif event == "missed":
            log.info("graph %s: notifications were missed; the next delta query catches up", mailbox)
        else:
            log.info("graph: unknown lifecycle event %r", event)

    async def create(self, mailbox: str) -> Subscription:
        expires = utcnow() + self.lifetime
        body = {
            "changeType": "created",
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "resource": f"users/{mailbox}/mailFolders('inbox')/messages",
            "expirationDateTime": _iso(expires),
            "clientState": self.client_state,
        }
        request = GraphRequest("POST", "/subscriptions", body, headers={"Prefer": 'IdType="ImmutableId"'})
        response = await self.client.call(mailbox, request, idempotent=False, what=f"subscribe to {mailbox}")
        created = self._from(response.json(), mailbox, expires)
        self.active[mailbox] = created
        log.info("graph %s: subscribed to new mail until %s", mailbox, created.expires_at.isoformat())
        return created

    async def renew(self, mailbox: str) -> None:
        current = self.active.get(mailbox)
        if current is None:
            await self.create(mailbox)
            return
        expires = utcnow() + self.lifetime
        request = GraphRequest("PATCH", f"/subscriptions/{current.id}", {"expirationDateTime": _iso(expires)})
        try:
            response = await self.client.call(mailbox, request, what=f"renew the subscription of {mailbox}")
        except GraphError as error:
            if error.status != 404:
                raise
            self.active.pop(mailbox, None)
            await self.create(mailbox)
            return
        self.active[mailbox] = self._from(response.json(), mailbox, expires, subscription_id=current.id)

    async def stop(self) -> None:
        """Stop maintaining and delete the subscriptions, so Graph stops calling a service that is gone."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for mailbox, subscription in list(self.active.items()):
            request = GraphRequest("DELETE", f"/subscriptions/{subscription.id}")
            try:
                await asyncio.wait_for(self.client.call(mailbox, request, what="unsubscribe"), timeout=5)
            except (GraphError, TimeoutError) as error:
                log.info("graph %s: could not delete subscription: %s", mailbox, error)
            self.active.pop(mailbox, None)

    async def _maintain(self) -> None:
        while True:
            try:
                await self._maintain_once()
                self.last_error = None
                self._failures = 0
                wait = CHECK_EVERY_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried; polling covers the gap
                self.last_error = str(exc)
                wait = RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS) - 1)]
                self._failures += 1
                log.warning("graph subscriptions: %s; retrying in %.0fs", exc, wait)
            await asyncio.sleep(wait)

    async def _maintain_once(self) -> None:
        now = utcnow()
        for mailbox in self.addresses:
            current = self.active.get(mailbox)
            if current is None:
                await self.create(mailbox)
            elif current.expires_at - now < max(current.lifetime / 4, timedelta(minutes=1)):
                await self.renew(mailbox)

    def _from(
        self, body: dict[str, Any], mailbox: str, asked: datetime, *, subscription_id: str | None = None
    ) -> Subscription:
        expires = _parse(body.get("expirationDateTime")) or asked
        return Subscription(
            id=str(body.get("id") or subscription_id or ""),
            mailbox=mailbox,
            expires_at=expires,
            lifetime=max(expires - utcnow(), timedelta(minutes=1)),
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
