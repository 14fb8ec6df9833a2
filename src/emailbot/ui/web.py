"""The dashboard's plumbing: templates (autoescaped), the signed-in session, CSRF checks, forms, security headers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.auth import audit
from emailbot.auth.keys import KeyProblem, Role, digest
from emailbot.auth.sessions import COOKIE_NAME, UiSession, find_session
from emailbot.runtime import Runtime
from emailbot.store.tables import UiSessionRow

LOGIN_CSRF_COOKIE = "emailbot_login_csrf"
MAX_FORM_BYTES = 1_000_000
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

templates = Environment(
    loader=PackageLoader("emailbot.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class NotSignedIn(Exception):
    """The page needs a session: the handler turns this into a redirect to the sign-in page."""


class Forbidden(Exception):
    def __init__(self, needed: Role) -> None:
        super().__init__(f"This needs the {needed} role.")
        self.needed = needed


class BadCsrf(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Page:
    """The request's signed-in session and runtime, handed to every page handler."""

    request: Request
    runtime: Runtime
    session: UiSession
    flash: str | None

    @property
    def principal_name(self) -> str:
        return self.session.principal.name

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        body = templates.get_template(template).render(
            user=self.session.principal,
            csrf_token=self.session.csrf_token,
            flash=self.flash,
            path=self.request.url.path,
            **values,
        )
        return HTMLResponse(body, status_code=code)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def page(request: Request, needed: Role = Role.VIEWER) -> Page:
    """The signed-in session with at least `needed`, its one-time message taken out."""
    runtime = runtime_of(request)
    token = request.cookies.get(COOKIE_NAME, "")
    if not token:
        raise NotSignedIn
    async with runtime.db.transaction() as session:
        found = await find_session(session, token)
        flash = await _take_flash(session, token) if found is not None else None
    if found is None:
        raise NotSignedIn
    if not found.principal.role.allows(needed):
        await audit.record_failed_auth(
            runtime.db, found.principal.prefix, client(request), request.url.path, KeyProblem.FORBIDDEN.value
        )
        raise Forbidden(needed)
    return Page(request, runtime, found, flash)


async def _take_flash(session: AsyncSession, token: str) -> str | None:
    """The message left by the last action, once: read, then cleared (RETURNING would give the cleared value)."""
    flash = await session.scalar(select(UiSessionRow.flash).where(UiSessionRow.token_hash == digest(token)))
    if flash is not None:
        await session.execute(update(UiSessionRow).where(UiSessionRow.token_hash == digest(token)).values(flash=None))
    return flash


async def action(request: Request, needed: Role) -> tuple[Page, dict[str, str]]:
    """A state-changing request: a session with the role, and the form, whose CSRF token must match."""
    current = await page(request, needed)
    form = await read_form(request)
    sent = form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent.encode(), current.session.csrf_token.encode()):
        await audit.record(
            current.runtime.db, current.principal_name, "ui.csrf_refused", request.url.path, {"client": client(request)}
        )
        raise BadCsrf
    return current, form


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form, first value per field (the dashboard's forms have no repeated fields)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


async def done(current: Page, message: str, to: str, what: str, target: str = "") -> RedirectResponse:
    """After an action: keep its message for the next page, write the audit entry, go to `to` (post/redirect/get)."""
    token = current.request.cookies.get(COOKIE_NAME, "")
    async with current.runtime.db.transaction() as session:
        await session.execute(
            update(UiSessionRow).where(UiSessionRow.token_hash == digest(token)).values(flash=message[:2000])
        )
        audit.add_entry(
            session,
            current.principal_name,
            f"ui.{what}",
            target or current.request.url.path,
            {"key": current.session.principal.prefix, "client": client(current.request)},
        )
    return RedirectResponse(to, status_code=303)


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def secure_cookies(request: Request) -> bool:
    runtime = runtime_of(request)
    return request.url.scheme == "https" or runtime.settings.public_url.startswith("https://")


def install_security_headers(app: FastAPI) -> None:
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.url.path.startswith("/ui"):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.middleware("http")(headers)
