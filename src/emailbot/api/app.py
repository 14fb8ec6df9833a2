"""The FastAPI application. With `run_engine`, the same process polls the mailbox and processes mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from emailbot import __version__
from emailbot.api import config, emails, escalations, notification_targets, notifications, processing, system
from emailbot.api.errors import install_error_handling
from emailbot.runtime import Runtime


def create_app(runtime: Runtime, *, run_engine: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_engine:
            runtime.engine.start()
            notifications.start_subscriptions(runtime)
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="EmailBot",
        version=__version__,
        description="Triage for a team's shared mailbox: classify, answer, draft, review or escalate.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handling(app)
    for module in (system, processing, emails, config, notifications):
        app.include_router(module.router)
    for module in (escalations, notification_targets):
        app.include_router(module.router)
    return app
