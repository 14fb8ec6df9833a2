"""Microsoft Graph change notifications: a trigger for the delta query, answered within Graph's time limits.

- `?validationToken=…` (subscription creation, on both URLs): the token echoed as text/plain, 200, at once.
- A change notification: every item's clientState is compared in constant time; if any is genuine the poller is
  woken (the delta query then fetches the mail) and the answer is 202 straight away, well within Graph's 3 s.
- A lifecycle notification: `reauthorizationRequired` renews, `subscriptionRemoved` recreates, `missed` wakes the
  poller; the work runs in the background after the 202.
A body without one genuine item gets 403: whoever sent it does not know the subscription's secret.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from emailbot.api.deps import RuntimeDep
from emailbot.api.errors import ApiError
from emailbot.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/notifications", tags=["notifications"])
_background: set[asyncio.Task[None]] = set()


@router.post("/graph", response_model=None, status_code=202)
async def graph_notification(
    request: Request, runtime: RuntimeDep, validation_token: str | None = Query(None, alias="validationToken")
) -> Response:
    """Graph's change notifications for the shared mailboxes' inboxes."""
    if validation_token is not None:
        return PlainTextResponse(validation_token, status_code=200)
    items = await _genuine_items(request, runtime)
    log.debug("graph: %d change notification(s)", len(items))
    runtime.engine.trigger()
    return Response(status_code=202)


@router.post("/graph/lifecycle", response_model=None, status_code=202)
async def graph_lifecycle(
    request: Request, runtime: RuntimeDep, validation_token: str | None = Query(None, alias="validationToken")
) -> Response:
    """Graph's lifecycle notifications: reauthorizationRequired, subscriptionRemoved, missed."""
    if validation_token is not None:
        return PlainTextResponse(validation_token, status_code=200)
    items = await _genuine_items(request, runtime)
    subscriptions = getattr(runtime.mailbox, "subscriptions", None)
    for item in items:
        event = str(item.get("lifecycleEvent", ""))
        if event == "missed":
            runtime.engine.trigger()
        if subscriptions is not None:
            _in_background(subscriptions.handle_lifecycle(event, str(item.get("subscriptionId", ""))))
    return Response(status_code=202)


async def _genuine_items(request: Request, runtime: Runtime) -> list[dict[str, Any]]:
    expected = getattr(runtime.mailbox, "client_state", None)
    if not isinstance(expected, str):
        raise ApiError(404, "not_found", "Graph notifications are not configured (EMAILBOT_MAILBOX is not graph).")
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_notification", "The body is not JSON.") from None
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list):
        raise ApiError(400, "invalid_notification", "Expected a JSON object with a `value` list.")
    genuine = [
        item
        for item in values
        if isinstance(item, dict) and hmac.compare_digest(str(item.get("clientState", "")).encode(), expected.encode())
    ]
    if not genuine:
        raise ApiError(403, "invalid_client_state", "No notification carries this service's clientState.")
    if len(genuine) < len(values):
        log.warning("graph: %d notification(s) with a wrong clientState ignored", len(values) - len(genuine))
    return genuine


def start_subscriptions(runtime: Runtime) -> None:
    """With the service running and EMAILBOT_GRAPH_NOTIFICATION_URL set: subscribe, and keep subscriptions alive.

    Only a running service does this (not `emailbot process`): Graph checks the URL while subscribing, so the web
    server must answer; the first attempt, made while it starts, is retried within seconds.
    """
    subscriptions = getattr(runtime.mailbox, "subscriptions", None)
    if subscriptions is not None:
        subscriptions.ensure_running()


def _in_background(work: Any) -> None:
    async def guarded() -> None:
        try:
            await work
        except Exception:  # noqa: BLE001 - the maintenance loop retries; log why this one failed
            log.exception("graph lifecycle handling failed")

    task = asyncio.create_task(guarded())
    _background.add(task)
    task.add_done_callback(_background.discard)
