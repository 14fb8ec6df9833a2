"""The FastAPI application. With `run_engine`, the same process polls the mailbox and processes mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from emailbot import __version__
from emailbot.api import (
    alerts,
    analytics,
    autonomy,
    config,
    emails,
    escalations,
    internal,
    keys,
    learning,
    metrics,
    notification_targets,
    notifications,
    operations,
    processing,
    review,
    rules,
    security,
    system,
)
from emailbot.api.auth import install_auth, require_access
from emailbot.api.errors import install_error_handling
from emailbot.runtime import Runtime
from emailbot.ui.routes import mount_dashboard


def create_app(runtime: Runtime, *, run_engine: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await operations.start(runtime)
        if run_engine:
            operations.schedule(runtime)
            runtime.engine.start()
            notifications.start_subscriptions(runtime)
        try:
            yield
        finally:
            await operations.stop(app)
            await runtime.close()

    app = FastAPI(
        title="EmailBot",
        version=__version__,
        description="Triage for a team's shared mailbox: classify, answer, draft, review or escalate.",
        lifespan=lifespan,
        # Every route, including those of routers added later, passes the key, role and rate-limit check.
        dependencies=[Depends(require_access)],
    )
    app.state.runtime = runtime
    install_error_handling(app)
    install_auth(app, runtime)
    for module in (system, processing, emails, config, notifications, review, rules, learning, keys):
        app.include_router(module.router)
    for module in (escalations, notification_targets, autonomy):
        app.include_router(module.router)
    for module in (alerts, analytics, security, internal, metrics):
        app.include_router(module.router)
    metrics.install_request_metrics(app)
    mount_dashboard(app)
    return app
