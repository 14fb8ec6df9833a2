"""What `/health/detailed` and `GET /config/validation` report about Microsoft 365.

Health: `m365_auth` (is there a valid token, until when, with which application permissions) and `email_client`
(can each mailbox be reached, under which display name). Validation: `m365` (credentials and permissions) and
`email_access` (each mailbox's inbox), every failure turned into one sentence saying what to fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emailbot.mail.graph.errors import (
    GraphError,
    advice_for_graph_error,
    advice_for_missing_roles,
    missing_roles,
)
from emailbot.mail.graph.mailbox import GraphMailboxes
from emailbot.mail.graph.wire import GraphRequest

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
PASS, WARN, FAIL = "pass", "warn", "fail"


async def auth_health(mailboxes: GraphMailboxes) -> tuple[str, dict[str, Any]]:
    try:
        token = await mailboxes.tokens.token()
    except GraphError as error:
        return UNHEALTHY, {"token_valid": False, "error": str(error)}
    missing = missing_roles(token.roles)
    details: dict[str, Any] = {
        "token_valid": True,
        "expires_at": datetime.fromtimestamp(token.expires_at, UTC).isoformat(),
        "permissions": sorted(token.roles),
        "tenant_id": mailboxes.tokens.tenant_id,
        "client_id": mailboxes.tokens.client_id,
    }
    subscriptions = mailboxes.subscriptions
    if subscriptions is not None:
        details["subscriptions"] = {
            address: subscription.expires_at.isoformat() for address, subscription in subscriptions.active.items()
        }
        if subscriptions.last_error:
            details["subscription_error"] = subscriptions.last_error
    if missing:
        details["error"] = advice_for_missing_roles(missing)
        return DEGRADED, details
    return HEALTHY, details


async def email_client_health(mailboxes: GraphMailboxes) -> tuple[str, dict[str, Any]]:
    reachable: dict[str, Any] = {}
    status = HEALTHY
    for address, mailbox in mailboxes.mailboxes.items():
        entry: dict[str, Any] = {"last_sync_at": mailbox.last_sync_at.isoformat() if mailbox.last_sync_at else None}
        try:
            user = await _user(mailboxes, address)
            entry |= {"reachable": True, "display_name": user.get("displayName", "")}
        except GraphError as error:
            entry |= {"reachable": False, "error": advice_for_graph_error(error, address)}
            status = UNHEALTHY if len(mailboxes.mailboxes) == 1 else DEGRADED
        reachable[address] = entry
    details: dict[str, Any] = {
        "type": "graph",
        "mailboxes": reachable,
        "requests_sent": mailboxes.client.total_requests,
    }
    first = reachable[mailboxes.address]
    details |= {"reachable": first["reachable"], "display_name": first.get("display_name")}
    return status, details


async def validate_m365(mailboxes: GraphMailboxes) -> tuple[str, str, dict[str, Any]]:
    details: dict[str, Any] = {"tenant_id": mailboxes.tokens.tenant_id, "client_id": mailboxes.tokens.client_id}
    try:
        token = await mailboxes.tokens.token()
    except GraphError as error:
        return FAIL, str(error), details
    details["permissions"] = sorted(token.roles)
    missing = missing_roles(token.roles)
    if missing:
        return FAIL, advice_for_missing_roles(missing), details
    return PASS, "signed in to Microsoft 365 with Mail.ReadWrite and Mail.Send", details


async def validate_email_access(mailboxes: GraphMailboxes) -> tuple[str, str, dict[str, Any]]:
    problems: list[str] = []
    details: dict[str, Any] = {}
    for address in mailboxes.mailboxes:
        request = GraphRequest("GET", f"/users/{address}/mailFolders/inbox?$select=displayName,totalItemCount")
        try:
            response = await mailboxes.client.call(address, request, what=f"read the inbox of {address}")
        except GraphError as error:
            problems.append(advice_for_graph_error(error, address))
            details[address] = {"accessible": False}
            continue
        details[address] = {"accessible": True, "inbox_items": response.json().get("totalItemCount")}
    if problems:
        return FAIL, " ".join(problems), details
    return PASS, f"{len(details)} mailbox(es) readable", details


async def _user(mailboxes: GraphMailboxes, address: str) -> dict[str, Any]:
    request = GraphRequest("GET", f"/users/{address}?$select=displayName,mail")
    response = await mailboxes.client.call(address, request, what=f"look up {address}")
    return response.json()
