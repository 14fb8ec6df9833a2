"""The admin API's route table: each path, its handler and its methods; every handler answers a bad request with
`{"error": "..."}` (404 for something unknown, 400 otherwise) instead of a server error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emailbot.sandbox.admin import mail, signin, teams, tenant, traffic
from emailbot.sandbox.admin.context import Admin, AdminHandler
from emailbot.sandbox.graph.notifier import Notifier
from emailbot.sandbox.state import SandboxState

ROUTES: list[tuple[str, AdminHandler, list[str]]] = [
    ("/_sandbox/state", tenant.summary, ["GET"]),
    ("/_sandbox/mailboxes/folders/{folder}/messages", mail.folder_messages, ["GET"]),
    ("/_sandbox/messages/{message}/raw", mail.raw, ["GET"]),
    ("/_sandbox/deliver", mail.deliver, ["POST"]),
    ("/_sandbox/seed", mail.seed, ["POST"]),
    ("/_sandbox/outgoing", mail.outgoing, ["GET"]),
    ("/_sandbox/faults", traffic.faults, ["GET", "PUT", "DELETE"]),
    ("/_sandbox/tokens/expire", traffic.expire_tokens, ["POST"]),
    ("/_sandbox/delta/expire", traffic.expire_delta, ["POST"]),
    ("/_sandbox/requests", traffic.requests, ["GET", "DELETE"]),
    ("/_sandbox/chats", teams.chats, ["GET"]),
    ("/_sandbox/subscriptions", teams.subscriptions, ["GET"]),
    ("/_sandbox/subscriptions/{subscription}/lifecycle", teams.lifecycle, ["POST"]),
    ("/_sandbox/users", tenant.users, ["GET", "POST"]),
    ("/_sandbox/app/permissions", tenant.app_permissions, ["GET", "PUT"]),
    ("/_sandbox/device/approve", signin.device_approve, ["POST"]),
    ("/_sandbox/devicelogin", signin.device_login, ["GET", "POST"]),
]


def admin_routes(state: SandboxState, notifier: Notifier) -> list[Route]:
    admin = Admin(state, notifier)
    return [Route(path, _endpoint(admin, handler), methods=methods) for path, handler, methods in ROUTES]


def _endpoint(admin: Admin, handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(admin, request)
        except (KeyError, ValueError, TypeError) as exc:
            status = 404 if isinstance(exc, KeyError) else 400
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=status)

    return endpoint
