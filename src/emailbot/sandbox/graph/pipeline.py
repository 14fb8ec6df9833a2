"""The Graph v1.0 request pipeline: bearer token, routing, mailbox checks, throttling and faults, the request log.

Requests arrive from HTTP or as `$batch` items; both go through `GraphService.handle`, so every limit and fault
applies to batch items exactly as to single calls.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from emailbot.sandbox.state import LoggedRequest, SandboxState, User
from emailbot.sandbox.state.tenant import utcnow
from emailbot.sandbox.tokens import TokenRejected, TokenService, VerifiedToken


@dataclass
class GraphRequest:
    method: str
    path: str  # after /v1.0, e.g. "/users/x/messages"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # e.g. "https://127.0.0.1:8443/v1.0"
    in_batch: bool = False

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. "
                "Please ensure Content-Type header is set and payload is of valid JSON format.",
            ) from None

    def prefers(self, token: str) -> bool:
        return token.lower() in self.headers.get("prefer", "").lower().replace(" ", "")

    @property
    def immutable_ids(self) -> bool:
        return self.prefers('IdType="ImmutableId"')

    @property
    def body_as_text(self) -> bool:
        return self.prefers('outlook.body-content-type="text"')

    def max_page_size(self) -> int | None:
        match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", self.headers.get("prefer", ""), re.IGNORECASE)
        return int(match.group(1)) if match else None


@dataclass
class GraphResponse:
    status: int
    body: Any = None  # JSON-able, bytes (raw), or None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self, request: GraphRequest) -> GraphResponse:
        request_id = str(uuid.uuid4())
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": request.headers.get("client-request-id", request_id),
                },
            }
        }
        return GraphResponse(self.status, body, {"request-id": request_id, **self.headers})


@dataclass
class Context:
    request: GraphRequest
    token: VerifiedToken
    params: dict[str, str]
    state: SandboxState
    user: User | None = None


Handler = Callable[[Context], Awaitable[GraphResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    permissions: tuple[str, ...]  # any one of these (roles for app tokens, scopes for delegated ones)
    denied_code: str = "ErrorAccessDenied"
    mailbox: bool = False  # the route opens a user's mailbox: mailbox checks, concurrency and budget apply
    directory: bool = False  # the route reads the directory (users): unknown users get Request_ResourceNotFound


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, permissions: tuple[str, ...], **flags: Any) -> None:
        regex = (
            "^"
            + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
            + "$"
        )
        self.routes.append(Route(method, template, re.compile(regex), handler, permissions, **flags))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            path_matched = True
            if route.method == method:
                return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        if path_matched:
            raise GraphError(405, "Request_BadRequest", f"The '{method}' method is not supported on this resource.")
        return None


_ODATA_KEY = re.compile(r"(\w+)\('([^']*)'\)")


def normalise_path(path: str) -> str:
    """`users('x')/mailFolders('inbox')` → `users/x/mailFolders/inbox`; case-insensitive segment names kept as sent."""
    path = _ODATA_KEY.sub(lambda m: f"{m.group(1)}/{m.group(2)}", path)
    path = re.sub(r"/delta\(\)$", "/delta", path)  # OData function-call syntax, as some SDKs send it
    return "/" + path.strip("/")


class GraphService:
    def __init__(self, state: SandboxState, tokens: TokenService, router: Router) -> None:
        self.state = state
        self.tokens = tokens
        self.router = router

    async def handle(self, request: GraphRequest, token: VerifiedToken | None = None) -> GraphResponse:
        started = time.time()
        route_name = "(unknown)"
        mailbox_id: str | None = None
        response: GraphResponse
        app_id: str | None = token.app_id if token else None
        try:
            if token is None:
                token = self._authenticate(request)
                app_id = token.app_id
            matched = self.router.match(request.method, _canonical(normalise_path(request.path)))
            if matched is None:
                raise GraphError(
                    400, "BadRequest", f"Resource not found for the segment '{request.path.strip('/').split('/')[0]}'."
                )
            route, params = matched
            route_name = route.template
            context = Context(request, token, params, self.state)
            if params.get("user") == "{me}":
                if not token.is_delegated:
                    raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
                params["user"] = token.user_id or ""
            self._authorise(route, token)
            if route.mailbox or route.directory:
                context.user = self._resolve_user(params.get("user", ""), route)
            if route.mailbox:
                assert context.user is not None
                self._check_mailbox(context.user, token)
                mailbox_id = context.user.id
            response = await self._run(route, context, app_id or "", mailbox_id)
        except GraphError as exc:
            response = exc.response(request)
        self.state.log_request(
            LoggedRequest(
                at=started,
                app_id=app_id,
                method=request.method,
                route=route_name,
                path=request.path,
                status=response.status,
                mailbox=mailbox_id,
                in_batch=request.in_batch,
            )
        )
        return response

    async def _run(self, route: Route, context: Context, app_id: str, mailbox_id: str | None) -> GraphResponse:
        state = self.state
        failure = state.draw_failure()
        if failure is not None:
            raise _injected_failure(failure, state.faults.retry_after_seconds)
        if mailbox_id is not None:
            refused = state.enter_mailbox(app_id, mailbox_id)
            if refused == "MailboxConcurrency":
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": str(state.faults.retry_after_seconds)},
                )
            if refused == "MailboxBudget":
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxRequests limit for this mailbox.",
                    {"Retry-After": str(state.budget_retry_after(app_id, mailbox_id))},
                )
        try:
            if state.faults.latency_seconds > 0:
                await asyncio.sleep(state.faults.latency_seconds)
            return await route.handler(context)
        finally:
            if mailbox_id is not None:
                state.leave_mailbox(app_id, mailbox_id)

    def _authenticate(self, request: GraphRequest) -> VerifiedToken:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token is empty.", {"WWW-Authenticate": _challenge()}
            )
        try:
            token = self.tokens.verify(value.strip())
        except TokenRejected as exc:
            raise GraphError(401, "InvalidAuthenticationToken", str(exc), {"WWW-Authenticate": _challenge()}) from None
        if token.claims["iat"] <= self.state.expired_tokens_before:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                {"WWW-Authenticate": _challenge()},
            )
        return token

    def _resolve_user(self, user_key: str, route: Route) -> User:
        user = self.state.find_user(user_key)
        if user is not None:
            return user
        if route.directory:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user_key}' does not exist or one of its queried reference-property objects "
                "are not present.",
            )
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_key}' is invalid.")

    def _authorise(self, route: Route, token: VerifiedToken) -> None:
        if not route.permissions or token.grants(route.permissions):
            return
        if route.denied_code == "Forbidden":
            granted = ",".join(sorted(token.scopes if token.is_delegated else token.roles))
            raise GraphError(
                403,
                "Forbidden",
                f"Missing role permissions on the request. API requires one of '{', '.join(route.permissions)}'. "
                f"Roles on the request '{granted}'.",
            )
        if route.denied_code == "Authorization_RequestDenied":
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _check_mailbox(self, user: User, token: VerifiedToken) -> None:
        if token.is_delegated and token.user_id != user.id:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        app = self.state.apps.get(token.app_id)
        policy = app.allowed_mailboxes if app is not None and not token.is_delegated else None
        if policy is not None and user.mail.lower() not in policy:
            raise GraphError(
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
            )
        if not user.mailbox_enabled:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )


def _canonical(path: str) -> str:
    # Graph's segment names are case-insensitive; ids keep their case.
    known = {
        "users",
        "me",
        "mailfolders",
        "messages",
        "delta",
        "createreply",
        "createreplyall",
        "reply",
        "replyall",
        "send",
        "sendmail",
        "move",
        "subscriptions",
        "chats",
        "members",
    }
    parts = path.split("/")
    canonical = {
        "mailfolders": "mailFolders",
        "createreply": "createReply",
        "createreplyall": "createReplyAll",
        "replyall": "replyAll",
        "sendmail": "sendMail",
    }
    out = [canonical.get(p.lower(), p.lower()) if p.lower() in known else p for p in parts]
    if out[1:2] == ["me"]:
        out[1:2] = ["users", "{me}"]
    return "/".join(out)


def _challenge() -> str:
    return 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'


def _injected_failure(status: int, retry_after: int) -> GraphError:
    headers = {"Retry-After": str(retry_after)}
    if status == 429:
        return GraphError(
            429, "TooManyRequests", "Too many requests. Retry after the time in the Retry-After header.", headers
        )
    if status == 503:
        return GraphError(503, "serviceNotAvailable", "Service Unavailable", headers)
    if status == 504:
        return GraphError(504, "UnknownError", "Gateway Timeout", headers)
    return GraphError(status, "generalException", "An injected failure.", headers)


def ok(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> GraphResponse:
    return GraphResponse(status, body, headers or {})
