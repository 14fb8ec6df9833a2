"""Authentication, authorization and rate limits for every API route, applied once to the whole application.

The policy is by path and method, so routers added later are protected without a line of their own:
- open: `GET /`, the health endpoints, the OpenAPI pages, the Graph notification endpoint (Microsoft calls it; it
  checks its own clientState) and the dashboard (which has its own sign-in, `emailbot.ui`);
- admin: keys, internal jobs, and any change to settings, rules, the learning loop or earned autonomy;
- viewer: any other read; operator: any other change.
A key is sent as `X-API-Key`. Every refusal is written to the audit log as `auth.failed`, and every call that
changes something is written there too, with the key's name (never the request body).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from fastapi import FastAPI, Request, Response

from emailbot.api.errors import ApiError
from emailbot.auth import audit
from emailbot.auth.keys import KeyProblem, Principal, Role, authenticate, prefix_of
from emailbot.auth.ratelimit import RateLimiter, Verdict, build_rate_limiter
from emailbot.runtime import Runtime

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/", "/health", "/health/detailed", "/docs", "/redoc", "/openapi.json"})
OPEN_TREES = ("/ui", "/notifications/graph", "/docs")  # each path and everything below it, nothing beside it
ADMIN_PREFIXES = ("/keys", "/internal/")
ADMIN_WRITE_PREFIXES = ("/config/", "/processing/rules", "/learning/", "/autonomy/")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


STATUS_PATH = "/process/status"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or any(path == tree or path.startswith(tree + "/") for tree in OPEN_TREES)


def is_public_status(request: Request, runtime: Runtime) -> bool:
    """EMAILBOT_STATUS_PUBLIC opens the status counts (no email content) to monitoring scripts without a key."""
    return runtime.settings.status_public and request.url.path == STATUS_PATH and request.method in READS


def needed_role(method: str, path: str) -> Role:
    if path.startswith(ADMIN_PREFIXES):
        return Role.ADMIN
    if method in READS:
        return Role.VIEWER
    return Role.ADMIN if path.startswith(ADMIN_WRITE_PREFIXES) else Role.OPERATOR


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_access(request: Request) -> Principal | None:
    """The application-wide dependency: who is calling, whether they may, and whether they have calls left."""
    path = request.url.path
    runtime: Runtime = request.app.state.runtime
    if is_open(path) or is_public_status(request, runtime):
        return None
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if not key:
        await _refuse(request, "anonymous", KeyProblem.MISSING)
    async with runtime.db.transaction() as session:
        found = await authenticate(session, key)
    if isinstance(found, KeyProblem):
        await _refuse(request, prefix_of(key), found)
    needed = needed_role(request.method, path)
    if not found.role.allows(needed):
        await _refuse(request, found.prefix, KeyProblem.FORBIDDEN, needed)
    request.state.principal = found
    await _spend(request, found)
    return found


async def _refuse(request: Request, actor: str, problem: KeyProblem, needed: Role | None = None) -> NoReturn:
    runtime: Runtime = request.app.state.runtime
    await audit.record_failed_auth(runtime.db, actor, client_of(request), request.url.path, problem.value)
    if problem == KeyProblem.FORBIDDEN:
        raise ApiError(403, "forbidden", f"This needs the {needed} role.", {"required_role": str(needed)})
    messages = {
        KeyProblem.MISSING: f"Send an API key in the {API_KEY_HEADER} header.",
        KeyProblem.UNKNOWN: "The API key is not valid.",
        KeyProblem.REVOKED: "The API key has been revoked.",
    }
    headers = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}
    raise ApiError(401, "unauthorized", messages[problem], {"reason": problem.value}, headers)


async def _spend(request: Request, principal: Principal) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    verdict = await limiter.hit(f"{principal.key_id}:{request.method}:{template}")
    request.state.rate_limit = verdict
    if not verdict.allowed:
        headers = {**verdict.headers(), "Retry-After": str(verdict.reset_seconds)}
        message = f"More than {verdict.limit} calls a minute to this route; retry in {verdict.reset_seconds} s."
        raise ApiError(429, "rate_limited", message, {"retry_after": verdict.reset_seconds}, headers)


def install_auth(app: FastAPI, runtime: Runtime) -> None:
    """Rate-limit state, and the middleware that adds the rate-limit headers and audits successful changes."""
    app.state.rate_limiter = build_rate_limiter(runtime.settings.redis_url, runtime.settings.rate_limit_per_minute)
    app.middleware("http")(_after_call)


async def _after_call(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    verdict: Verdict | None = getattr(request.state, "rate_limit", None)
    if verdict is not None:
        response.headers.update(verdict.headers())
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and request.method in CHANGES and response.status_code < 400:
        await _audit_change(request, principal, response.status_code)
    return response


async def _audit_change(request: Request, principal: Principal, status: int) -> None:
    runtime: Runtime = request.app.state.runtime
    route = request.scope.get("route")
    details: dict[str, Any] = {
        "key": principal.prefix,
        "role": principal.role.value,
        "status": status,
        "client": client_of(request),
        "request_id": getattr(request.state, "request_id", None),
    }
    action = f"{request.method} {getattr(route, 'path', request.url.path)}"
    try:
        await audit.record(runtime.db, principal.name, action, request.url.path, details)
    except Exception:  # noqa: BLE001 - the change is done; a lost audit row must not turn it into an error
        log.exception("could not write the audit log for %s", action)
