"""Posting change notifications and lifecycle events to subscribers, from its own thread, so delivering mail never
waits on a receiver; failed or slow posts are retried with a (compressed) backoff like Graph's."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from typing import Any

import httpx

from emailbot.sandbox.state import SandboxState, Subscription

NOTIFICATION_TIMEOUT_SECONDS = 3.0  # Graph treats a slower endpoint as failing
LIFECYCLE_EVENTS = ("reauthorizationRequired", "missed", "subscriptionRemoved")
# Graph retries a failed or slow (>3 s) delivery with backoff over hours; the sandbox compresses that to seconds.
RETRY_DELAYS_SECONDS = (0.5, 2.0)


class Notifier:
    """Posts change notifications from its own thread, so delivering mail never waits on a receiver."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="m365-sandbox-notifier", daemon=True)
        self._client = httpx.Client(timeout=NOTIFICATION_TIMEOUT_SECONDS, verify=False)  # noqa: S501
        self._retries_pending = 0
        self._retry_lock = threading.Lock()

    def start(self) -> None:
        self.state.notification_sink = self.change
        self._thread.start()

    def stop(self) -> None:
        self.state.notification_sink = None
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._client.close()

    def change(self, change_type: str, data: dict[str, Any], subscription: Subscription) -> None:
        message_id = data["immutable_id"] if subscription.immutable_ids else data["rest_id"]
        resource = f"Users/{data['user_id']}/Messages/{message_id}"
        item = {
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": subscription.as_graph()["expirationDateTime"],
            "changeType": change_type,
            "resource": resource,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": resource,
                "@odata.etag": data["etag"],
                "id": message_id,
            },
            "clientState": subscription.client_state,
            "tenantId": self.state.config.tenant_id,
        }
        self._queue.put((subscription.id, {"url": subscription.notification_url, "payload": {"value": [item]}}))

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Sends a lifecycle event; `subscriptionRemoved` also removes the subscription, as Graph does."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}; one of {', '.join(LIFECYCLE_EVENTS)}")
        with self.state.lock:
            subscription = self.state.subscriptions[subscription_id]
            url = subscription.lifecycle_notification_url
            if not url:
                raise ValueError(f"subscription {subscription_id} has no lifecycleNotificationUrl")
            if event == "subscriptionRemoved":
                del self.state.subscriptions[subscription_id]
        item = {
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": subscription.as_graph()["expirationDateTime"],
            "tenantId": self.state.config.tenant_id,
            "clientState": subscription.client_state,
            "lifecycleEvent": event,
        }
        self._queue.put((subscription.id, {"url": url, "payload": {"value": [item]}, "subscription": subscription}))

    def drain(self, timeout: float = 10.0) -> None:
        """Waits until every queued notification has been posted (for tests)."""
        deadline = time.monotonic() + timeout
        while (self._queue.unfinished_tasks or self._retries_pending) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._post(*job)
            finally:
                self._queue.task_done()

    def _post(self, subscription_id: str, job: dict[str, Any]) -> None:
        attempt = int(job.get("attempt", 1))
        started = time.monotonic()
        try:
            response = self._client.post(job["url"], json=job["payload"])
            status: int | None = response.status_code
            error = None
        except httpx.HTTPError as exc:
            status, error = None, type(exc).__name__
        record = {
            "at": time.time(),
            "url": job["url"],
            "payload": job["payload"],
            "status": status,
            "error": error,
            "seconds": round(time.monotonic() - started, 4),
            "attempt": attempt,
            "id": secrets.token_hex(4),
        }
        with self.state.lock:
            subscription = self.state.subscriptions.get(subscription_id) or job.get("subscription")
            if subscription is not None:
                subscription.deliveries.append(record)
            self.state.notification_log.append(record)
        if (status is None or not 200 <= status < 300) and attempt < len(RETRY_DELAYS_SECONDS) + 1:
            self._retry_later(subscription_id, job | {"attempt": attempt + 1}, RETRY_DELAYS_SECONDS[attempt - 1])

    def _retry_later(self, subscription_id: str, job: dict[str, Any], delay: float) -> None:
        with self._retry_lock:
            self._retries_pending += 1

        def requeue() -> None:
            self._queue.put((subscription_id, job))
            with self._retry_lock:
                self._retries_pending -= 1

        timer = threading.Timer(delay, requeue)
        timer.daemon = True
        timer.start()
