"""The dashboard's pages: sign-in, overview, review queue, emails, escalations, patterns, alerts, settings and
rules, learning, and configuration. Actions are plain HTML forms (post, then redirect), each with the session's
CSRF token; they call the same functions as the API."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from emailbot.api import emails as email_api
from emailbot.api.errors import ApiError
from emailbot.auth import audit
from emailbot.auth.keys import KeyProblem, Role, authenticate, prefix_of
from emailbot.auth.sessions import COOKIE_NAME, close_session, open_session
from emailbot.domain import NOISE_KINDS, Action
from emailbot.ops.health import detailed_health
from emailbot.review import actions
from emailbot.review.noise import pull_back
from emailbot.review.queue import review_queue
from emailbot.store.stats import processing_stats
from emailbot.ui import admin_routes, autonomy_routes, charts, data
from emailbot.ui.web import (
    LOGIN_CSRF_COOKIE,
    BadCsrf,
    Forbidden,
    NotSignedIn,
    action,
    client,
    done,
    install_security_headers,
    new_login_token,
    page,
    read_form,
    runtime_of,
    secure_cookies,
    templates,
)
from emailbot.validation import validate_configuration

router = APIRouter(prefix="/ui", include_in_schema=False)


def mount_dashboard(app: FastAPI) -> None:
    static = resources.files("emailbot.ui").joinpath("static")
    app.mount("/ui/static", StaticFiles(directory=str(static)), name="ui-static")
    app.include_router(router)
    app.include_router(admin_routes.router)
    app.include_router(autonomy_routes.router)
    app.add_exception_handler(NotSignedIn, _to_login)
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(BadCsrf, _bad_csrf)
    install_security_headers(app)


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/ui/login", status_code=303)


async def _forbidden(request: Request, exc: Forbidden) -> Response:
    body = templates.get_template("message.html").render(title="Not allowed", message=str(exc))
    return HTMLResponse(body, status_code=403)


async def _bad_csrf(request: Request, exc: Exception) -> Response:
    message = "The request was refused: its form token is missing or wrong. Reload the page and try again."
    body = templates.get_template("message.html").render(title="Refused", message=message)
    return HTMLResponse(body, status_code=403)


# --- signing in ---------------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, error: str = "") -> Response:
    token = new_login_token()
    body = templates.get_template("login.html").render(login_token=token, error=error[:200])
    response = HTMLResponse(body, status_code=401 if error else 200)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request), path="/ui"
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or form.get("login_token") != expected:
        raise BadCsrf
    runtime = runtime_of(request)
    key = form.get("api_key", "").strip()
    async with runtime.db.transaction() as session:
        found = await authenticate(session, key) if key else KeyProblem.MISSING
        if not isinstance(found, KeyProblem):
            token = await open_session(session, found, runtime.settings.session_hours)
    if isinstance(found, KeyProblem):
        await audit.record_failed_auth(
            runtime.db, prefix_of(key) if key else "anonymous", client(request), request.url.path, found.value
        )
        return await login_form(request, "That key is not valid." if key else "Enter your API key.")
    await audit.record(
        runtime.db, found.name, "ui.signed_in", "/ui/login", {"key": found.prefix, "client": client(request)}
    )
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
        max_age=int(runtime.settings.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    current, _ = await action(request, Role.VIEWER)
    async with current.runtime.db.transaction() as session:
        await close_session(session, request.cookies.get(COOKIE_NAME, ""))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# --- pages --------------------------------------------------------------------------------------------------


@router.get("/")
async def overview(request: Request) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        numbers = await data.overview(session)
        stats = await processing_stats(session)
        waiting = (await review_queue(session, limit=1))[1]
        active = len(await data.escalations(session, "active"))
    graphs = [
        charts.columns("Emails per day", numbers.days, numbers.volume),
        charts.columns("Automation rate per day (auto-handled)", numbers.days, numbers.automation, "%"),
        charts.columns("Confidence distribution", [f"{n * 10}–{n * 10 + 9}" for n in range(10)], numbers.confidence),
        charts.rows("Categories", numbers.categories),
        charts.rows("Actions", numbers.actions),
        charts.rows("Processing time", numbers.processing_time),
    ]
    return current.render(
        "overview.html",
        numbers=numbers,
        stats=stats,
        waiting=waiting,
        active=active,
        graphs=graphs,
        engine=current.runtime.engine,
    )


@router.get("/queue")
async def queue(
    request: Request,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    assigned_to: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        offset = (page_number - 1) * 50
        items, total = await review_queue(session, limit=50, offset=offset, assigned_to=assigned_to)
    return current.render("queue.html", items=items, total=total, page_number=page_number, assigned_to=assigned_to)


@router.get("/emails")
async def email_list(
    request: Request,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    action_filter: Annotated[Action | None, Query(alias="action")] = None,
    category: str = "",
    sender: str = "",
    noise: str = "",
) -> Response:
    filters = email_api.EmailFilters(
        action=action_filter, category=category or None, sender=sender or None, noise=noise or None
    )
    return await _listing(request, filters, page_number, "Emails")


@router.get("/noise")
async def noise_list(
    request: Request, page_number: Annotated[int, Query(alias="page", ge=1)] = 1, noise: str = ""
) -> Response:
    """Mail left alone as noise (NO_ACTION), newest first: the place to spot a request EmailBot ignored."""
    filters = email_api.EmailFilters(action=Action.NO_ACTION, noise=noise or None)
    return await _listing(request, filters, page_number, "Noise")


async def _listing(request: Request, filters: email_api.EmailFilters, page_number: int, heading: str) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        listing = await email_api.list_emails(session, filters, page_number, 50)
    chosen = {
        "action": filters.action.value if filters.action else "",
        "category": filters.category or "",
        "sender": filters.sender or "",
        "noise": filters.noise or "",
    }
    return current.render(
        "emails.html",
        listing=listing,
        heading=heading,
        actions=list(Action),
        categories=current.runtime.taxonomy.names,
        noise_kinds=NOISE_KINDS,
        chosen=chosen,
    )


@router.get("/emails/{email_id}")
async def email_detail(request: Request, email_id: int) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        try:
            email = await email_api.get_email(email_id, session)
        except ApiError:
            return current.render("message.html", 404, title="Not found", message=f"Email {email_id} does not exist.")
        others = await data.thread(session, email)
        reviews = await data.reviews(session, email_id)
    return current.render(
        "email.html", email=email, thread=others, reviews=reviews, categories=current.runtime.taxonomy.names
    )


@router.post("/emails/{email_id}/{verb}")
async def email_action(request: Request, email_id: int, verb: str) -> Response:
    current, form = await action(request, Role.OPERATOR)
    runtime, who = current.runtime, current.principal_name
    handlers = {
        "approve": lambda: actions.approve(runtime, email_id, form.get("text"), who),
        "reject": lambda: actions.reject(runtime, email_id, form.get("reason", ""), who),
        "category": lambda: actions.correct_category(runtime, email_id, form.get("category", ""), who),
        "reviewed": lambda: actions.confirm(runtime, email_id, who),
        "reprocess": lambda: actions.reprocess(runtime, email_id, who),
        "not-noise": lambda: pull_back(runtime, email_id, who),
    }
    if verb not in handlers:
        return current.render("message.html", 404, title="Not found", message="No such action.")
    try:
        outcome = await handlers[verb]()
        message = outcome.message
    except actions.ReviewError as exc:
        message = f"Not done: {exc.message}"
    return await done(current, message, f"/ui/emails/{email_id}", f"email.{verb}", f"email:{email_id}")


@router.get("/escalations")
async def escalations(request: Request, status: str = "") -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        rows = await data.escalations(session, status or None)
    return current.render("escalations.html", rows=rows, status=status)


@router.post("/escalations/{escalation_id}/resolve")
async def resolve(request: Request, escalation_id: int) -> Response:
    current, form = await action(request, Role.OPERATOR)
    try:
        outcome = await actions.resolve_escalation(
            current.runtime, escalation_id, form.get("notes", ""), current.principal_name
        )
        message = outcome.message
    except actions.ReviewError as exc:
        message = f"Not done: {exc.message}"
    return await done(current, message, "/ui/escalations", "escalation.resolve", f"escalation:{escalation_id}")


@router.get("/patterns")
async def patterns(request: Request) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        rows = await data.patterns(session)
    return current.render("patterns.html", rows=rows)


@router.get("/alerts")
async def alerts(request: Request) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        rows = await data.alerts(session)
    return current.render("alerts.html", rows=rows)


@router.get("/validation")
async def validation(request: Request) -> Response:
    current = await page(request)
    status, results = await validate_configuration(current.runtime)
    health, components = await detailed_health(current.runtime)
    return current.render("validation.html", status=status, results=results, health=health, components=components)
