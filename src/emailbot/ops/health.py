"""Component health for /health, /health/detailed and `emailbot health`.

A component is healthy, degraded (working, but something needs attention) or unhealthy (not working). The service
is unhealthy only when the database is: without it nothing is stored; anything else degrades it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from emailbot.runtime import Runtime

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


@dataclass
class Component:
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **self.details}


async def check_database(runtime: Runtime) -> Component:
    started = time.perf_counter()
    try:
        async with runtime.db.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the database is not usable
        return Component(UNHEALTHY, {"backend": runtime.db.backend, "error": type(exc).__name__})
    latency = round((time.perf_counter() - started) * 1000, 2)
    pool = pool_usage(runtime.db.engine.pool)
    return Component(HEALTHY, {"backend": runtime.db.backend, "latency_ms": latency, "pool": pool})


def pool_usage(pool: Any) -> dict[str, int | None]:
    """The connection pool as numbers: size, connections in use and idle ones (null where the pool kind
    has no such figure, e.g. SQLite's per-thread pool)."""

    def figure(name: str) -> int | None:
        method = getattr(pool, name, None)
        return int(method()) if callable(method) else None

    return {
        "size": figure("size"),
        "checked_out": figure("checkedout"),
        "idle": figure("checkedin"),
        "overflow": figure("overflow"),
    }


def check_mailbox(runtime: Runtime) -> Component:
    details: dict[str, Any] = {"type": runtime.mailbox.name, "address": runtime.mailbox.address}
    if runtime.settings.mailbox == "local":
        root = Path(runtime.settings.local_mailbox_dir)
        writable = (root / "new").is_dir() and os.access(root / "new", os.W_OK)
        details["writable"] = writable
        return Component(HEALTHY if writable else UNHEALTHY, details)
    return Component(HEALTHY, details)


def check_classifier(runtime: Runtime) -> Component:
    model = getattr(runtime.classifier, "version", None)
    return Component(HEALTHY, {"type": runtime.classifier.name, "model": model})


def check_queue(runtime: Runtime) -> Component:
    engine = runtime.engine
    details = {
        "size": runtime.queue.size(),
        "engine_running": engine.running,
        "last_poll_at": engine.last_poll_at.isoformat() if engine.last_poll_at else None,
        "last_error": engine.last_error,
    }
    return Component(HEALTHY if engine.running and not engine.last_error else DEGRADED, details)


def check_configuration(runtime: Runtime) -> Component:
    settings = runtime.settings
    warnings = []
    if settings.is_sqlite and settings.worker_concurrency > 4:
        warnings.append("SQLite with more than 4 workers: writes will queue; use PostgreSQL")
    details: dict[str, Any] = {
        "mailbox": settings.mailbox,
        "classifier": settings.classifier,
        "thresholds": {
            "auto": runtime.config.thresholds.auto,
            "suggest": runtime.config.thresholds.suggest,
            "review": runtime.config.thresholds.review,
        },
        "categories": list(runtime.taxonomy.names),
        "warnings": warnings,
    }
    return Component(DEGRADED if warnings else HEALTHY, details)


async def check_llm(runtime: Runtime) -> Component | None:
    """The LLM service, when one is configured: degraded while its circuit is open (the local model classifies)."""
    from emailbot.classifiers.llm.status import llm_health

    result = await llm_health(runtime.classifier)
    if result is None:
        return None
    working, details = result
    return Component(HEALTHY if working else DEGRADED, details)


async def detailed_health(runtime: Runtime) -> tuple[str, dict[str, Component]]:
    components = {
        "database": await check_database(runtime),
        "mailbox": check_mailbox(runtime),
        "classifier": check_classifier(runtime),
        "queue": check_queue(runtime),
        "configuration": check_configuration(runtime),
    }
    if (llm := await check_llm(runtime)) is not None:
        components["llm_service"] = llm
    if runtime.settings.mailbox == "graph":
        components |= await check_m365(runtime)
    return overall(components), components


async def check_m365(runtime: Runtime) -> dict[str, Component]:
    """`m365_auth` and `email_client` for the Graph connector."""
    from emailbot.mail.graph.status import auth_health, email_client_health

    mailbox: Any = runtime.mailbox
    auth_status, auth_details = await auth_health(mailbox)
    client_status, client_details = await email_client_health(mailbox)
    return {"m365_auth": Component(auth_status, auth_details), "email_client": Component(client_status, client_details)}


def overall(components: dict[str, Component]) -> str:
    if components["database"].status == UNHEALTHY:
        return UNHEALTHY
    if any(component.status != HEALTHY for component in components.values()):
        return DEGRADED
    return HEALTHY
