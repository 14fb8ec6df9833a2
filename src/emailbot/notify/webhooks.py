"""Webhook notifiers: Teams Workflows, Slack and generic JSON, delivered with one retry policy and one record.

A transient failure (timeout, 429, 5xx) is retried with backoff; a permanent one (any other 4xx, or retries
exhausted) disables the target, stored so that every worker stops using it, and raises an alert once. An
operator enables it again (`POST /notifications/targets/{name}/enable`) after fixing the URL or the receiver.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from emailbot.notify.base import EscalationNotice, NotifyError
from emailbot.notify.deliveries import DELIVERED, FAILED, SKIPPED, AlertsProvider, Delivery, DeliveryLog
from emailbot.notify.generic import generic_payload, signed_request
from emailbot.notify.http import HttpOutcome, RetryPolicy, send_with_retry
from emailbot.notify.slack import slack_payload
from emailbot.notify.teams_workflow import workflow_payload
from emailbot.ops.alerts import Alert
from emailbot.settings import WebhookTarget

log = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(
        self,
        target: WebhookTarget,
        client: httpx.AsyncClient,
        deliveries: DeliveryLog,
        alerts: AlertsProvider,
        policy: RetryPolicy,
        signing_secret: str | None = None,
    ) -> None:
        self.target = target
        self.name = target.name
        self.kind = target.kind
        self.client = client
        self.deliveries = deliveries
        self.alerts = alerts
        self.policy = policy
        self.secret = target.secret.get_secret_value() if target.secret else signing_secret

    async def notify(self, notice: EscalationNotice, key: str) -> str:
        earlier = await self.deliveries.delivered(key, self.name)
        if earlier is not None:
            return earlier
        if await self.deliveries.is_disabled(self.name):
            await self._record(key, notice, Delivery(SKIPPED, error="target is disabled"))
            raise NotifyError(f"webhook {self.name} is disabled", permanent=True)
        raw, headers = await self._request(notice, key)
        outcome = await send_with_retry(lambda: self._post(raw, headers), self.policy)
        if outcome.ok:
            reference = f"HTTP {outcome.status}"
            await self._record(key, notice, Delivery(DELIVERED, outcome.attempts, outcome.status, reference=reference))
            return reference
        await self._record(key, notice, Delivery(FAILED, outcome.attempts, outcome.status, outcome.error))
        await self._disable(outcome)
        raise NotifyError(f"webhook {self.name}: {outcome.error}", permanent=True)

    async def _request(self, notice: EscalationNotice, key: str) -> tuple[bytes, dict[str, str]]:
        if self.target.kind == "generic":
            return signed_request(generic_payload(notice), self.secret, key)
        body: dict[str, Any] = slack_payload(notice)
        if self.target.kind == "teams_workflow":
            body = workflow_payload(notice, await self.deliveries.chat_of(notice.escalation_id))
        return json.dumps(body, ensure_ascii=False).encode(), {"Content-Type": "application/json"}

    async def _post(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(self.target.url.get_secret_value(), content=raw, headers=headers)

    async def _record(self, key: str, notice: EscalationNotice, delivery: Delivery) -> None:
        await self.deliveries.record(key, self.name, self.target.kind, notice.escalation_id, delivery)

    async def _disable(self, outcome: HttpOutcome) -> None:
        why = "rejected" if outcome.permanent else f"failed {outcome.attempts} times"
        reason = f"{why}: {outcome.error}"
        log.warning("webhook %s disabled: %s", self.name, reason)
        if await self.deliveries.disable(self.name, self.target.kind, reason):
            alert = Alert(
                "warning",
                "notifications",
                f"webhook {self.name} disabled",
                {"target": self.name, "kind": self.target.kind, "reason": reason, "http_status": outcome.status},
            )
            await self.alerts().raise_alert(alert)
