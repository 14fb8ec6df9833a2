"""Change-notification subscriptions: create (with Graph's validation handshake), renew, delete, and the
notifications themselves (change notifications and lifecycle events) posted from a background thread.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import urllib.parse
import uuid
from typing import Any

import httpx

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, Router, normalise_path, ok
from emailbot.sandbox.state import SandboxState, Subscription
from emailbot.sandbox.state.tenant import parse_graph_time, utcnow

SUBSCRIPTION_PERMISSIONS = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.ReadBasic.All")
_CHANGE_TYPES = {"created", "updated", "deleted"}


def register(router: Router) -> None:
    router.add("POST", "/subscriptions", create_subscription, ())
    router.add("GET", "/subscriptions", list_subscriptions, ())
    router.add("GET", "/subscriptions/{subscription}", get_subscription, ())
    router.add("PATCH", "/subscriptions/{subscription}", renew_subscription, ())
    router.add("DELETE", "/subscriptions/{subscription}", delete_subscription, ())
    router.add("POST", "/subscriptions/{subscription}/reauthorize", reauthorize_subscription, ())


async def create_subscription(ctx: Context) -> GraphResponse:
    payload = ctx.request.json()
    if not isinstance(payload, dict):
        raise GraphError(400, "InvalidRequest", "The request body must be a JSON object.")
    change_types = [c.strip() for c in str(payload.get("changeType", "")).split(",") if c.strip()]
    if not change_types or any(c not in _CHANGE_TYPES for c in change_types):
        raise GraphError(400, "InvalidRequest", "changeType must be one or more of created, updated, deleted.")
    notification_url = _checked_url(payload.get("notificationUrl"), "notificationUrl")
    lifecycle_raw = payload.get("lifecycleNotificationUrl")
    lifecycle_url = _checked_url(lifecycle_raw, "lifecycleNotificationUrl") if lifecycle_raw else None
    expiration = _checked_expiration(ctx.state, payload.get("expirationDateTime"))
    client_state = payload.get("clientState")
    if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
        raise GraphError(400, "InvalidRequest", "clientState must be a string of at most 128 characters.")
    user, folder_id = _resource_target(ctx, str(payload.get("resource", "")))
    if not ctx.token.grants(SUBSCRIPTION_PERMISSIONS):
        raise GraphError(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; "
            "Reason: Access is denied. Check credentials and try again.]",
        )
    timeout = ctx.state.config.subscription_validation_timeout_seconds
    await _validate_endpoint(notification_url, timeout)
    if lifecycle_url:
        await _validate_endpoint(lifecycle_url, timeout)
    subscription = Subscription(
        id=str(uuid.uuid4()),
        app_id=ctx.token.app_id,
        resource=str(payload["resource"]),
        change_types=change_types,
        notification_url=notification_url,
        lifecycle_notification_url=lifecycle_url,
        client_state=client_state,
        expiration=expiration,
        user_id=user,
        folder_id=folder_id,
        immutable_ids=ctx.request.immutable_ids,
    )
    with ctx.state.lock:
        ctx.state.subscriptions[subscription.id] = subscription
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#subscriptions/$entity", **subscription.as_graph()}
    return ok(body, 201)


async def list_subscriptions(ctx: Context) -> GraphResponse:
    with ctx.state.lock:
        mine = [s.as_graph() for s in ctx.state.subscriptions.values() if s.app_id == ctx.token.app_id]
    return ok({"@odata.context": f"{ctx.request.base_url}/$metadata#subscriptions", "value": mine})


async def get_subscription(ctx: Context) -> GraphResponse:
    return ok(_subscription(ctx).as_graph())


async def renew_subscription(ctx: Context) -> GraphResponse:
    payload = ctx.request.json()
    expiration = _checked_expiration(ctx.state, (payload or {}).get("expirationDateTime"))
    with ctx.state.lock:
        subscription = _subscription(ctx)
        subscription.expiration = expiration
        return ok(subscription.as_graph())


async def reauthorize_subscription(ctx: Context) -> GraphResponse:
    """The answer to `reauthorizationRequired`: the subscription goes on with the caller's current token."""
    with ctx.state.lock:
        _subscription(ctx)
    return ok(None, 204)


async def delete_subscription(ctx: Context) -> GraphResponse:
    with ctx.state.lock:
        subscription = _subscription(ctx)
        del ctx.state.subscriptions[subscription.id]
    return ok(None, 204)


def _subscription(ctx: Context) -> Subscription:
    found = ctx.state.subscriptions.get(ctx.params["subscription"])
    if found is None or found.app_id != ctx.token.app_id or found.expiration < utcnow():
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    return found


def _checked_url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise GraphError(400, "InvalidRequest", f"{name} is required.")
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme == "https" and parsed.hostname:
        return value
    if parsed.scheme == "http" and parsed.hostname and _is_loopback(parsed.hostname):
        return value  # the sandbox allows plain http to loopback so a local EmailBot can receive notifications
    raise GraphError(400, "ValidationError", f"{name} must be an https URL: '{value}'.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_expiration(state: SandboxState, value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
    try:
        expiration = parse_graph_time(value)
    except ValueError:
        raise GraphError(400, "InvalidRequest", f"expirationDateTime '{value}' is not a valid date and time.") from None
    now = utcnow()
    if expiration <= now:
        raise GraphError(400, "InvalidRequest", "Subscription expiration can only be in the future.")
    maximum = now + dt.timedelta(minutes=state.config.subscription_max_minutes)
    if expiration > maximum:
        raise GraphError(
            400,
            "InvalidRequest",
            f"Subscription expiration can only be {state.config.subscription_max_minutes} minutes in the future.",
        )
    return expiration


def _resource_target(ctx: Context, resource: str) -> tuple[str, str | None]:
    """Supports `users/{id}/messages` and `users/{id}/mailFolders('{folder}')/messages` (also `me/...`)."""
    parts = normalise_path(resource).strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if lowered[:1] == ["me"] and ctx.token.is_delegated:
        parts, lowered = ["users", ctx.token.user_id or "", *parts[1:]], ["users", "", *lowered[1:]]
    user = ctx.state.find_user(parts[1]) if len(parts) >= 3 and lowered[0] == "users" else None
    if user is None or lowered[-1] != "messages" or len(parts) not in (3, 5):
        raise GraphError(400, "InvalidRequest", f"Resource '{resource}' is not supported for change notifications.")
    if len(parts) == 5:
        if lowered[2] != "mailfolders":
            raise GraphError(400, "InvalidRequest", f"Resource '{resource}' is not supported for change notifications.")
        folder = user.folder(parts[3])
        if folder is None:
            raise GraphError(404, "ExtensionError", "The specified folder could not be found in the store.")
        return user.id, folder.id
    return user.id, None


async def _validate_endpoint(url: str, timeout: float) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: " + str(uuid.uuid4())
    separator = "&" if "?" in url else "?"
    target = f"{url}{separator}validationToken={urllib.parse.quote(token)}"
    failure = (
        "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation "
        "request within 10 seconds, with the validation token as text/plain."
    )
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=False) as client:  # noqa: S501
            response = await client.post(target, headers={"Content-Type": "text/plain; charset=utf-8"}, content=b"")
    except httpx.HTTPError:
        raise GraphError(400, "ValidationError", failure) from None
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or response.text != token or not content_type.startswith("text/plain"):
        raise GraphError(400, "ValidationError", failure)
