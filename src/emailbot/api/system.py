"""Service information and health."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from emailbot import __version__
from emailbot.api.deps import RuntimeDep
from emailbot.ops.health import UNHEALTHY, detailed_health
from emailbot.runtime import Runtime
from emailbot.store.tables import utcnow

router = APIRouter(tags=["system"])


class ComponentHealth(BaseModel):
    """One component: its status and the details it reports (database: backend, latency_ms, pool{size,
    checked_out, idle}; queue: size, running; email_client: type, address; ...; see docs/operations.md)."""

    model_config = ConfigDict(extra="allow")
    status: str = Field(description="healthy, degraded or unhealthy")


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="unhealthy when a component the service cannot work without is down (HTTP 503)."
    )
    timestamp: datetime
    version: str
    checks: dict[str, str] | None = Field(default=None, description="GET /health: each component's status.")
    uptime_seconds: float | None = Field(default=None, description="GET /health/detailed: seconds since start.")
    components: dict[str, ComponentHealth] | None = Field(
        default=None, description="GET /health/detailed: each component with its details."
    )


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Health, "description": "healthy or degraded"},
    503: {"model": Health, "description": "unhealthy"},
}


@router.get("/", response_model=None)
async def root(runtime: RuntimeDep, request: Request) -> dict[str, Any] | RedirectResponse:
    """The service's identity as JSON; a browser (asking for HTML) is sent to the dashboard instead."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui/", status_code=303)
    return {
        "service": "EmailBot",
        "version": __version__,
        "status": "running" if runtime.engine.running else "api-only",
        "mailbox": runtime.mailbox.address,
        "docs": "/docs",
        "health": "/health",
        "dashboard": "/ui/",
    }


@router.get("/health", responses=HEALTH_RESPONSES)
async def health(runtime: RuntimeDep) -> JSONResponse:
    """Overall status and each component's status: 200 healthy or degraded, 503 unhealthy."""
    return await _health(runtime, detailed=False)


@router.get("/health/detailed", responses=HEALTH_RESPONSES)
async def health_detailed(runtime: RuntimeDep) -> JSONResponse:
    """Every component with its details (latency, model version, queue, configuration)."""
    return await _health(runtime, detailed=True)


async def _health(runtime: Runtime, *, detailed: bool) -> JSONResponse:
    status, components = await detailed_health(runtime)
    body: dict[str, Any] = {"status": status, "timestamp": utcnow().isoformat(), "version": __version__}
    if detailed:
        body["uptime_seconds"] = round((utcnow() - runtime.started_at).total_seconds(), 1)
        body["components"] = {name: component.as_dict() for name, component in components.items()}
    else:
        body["checks"] = {name: component.status for name, component in components.items()}
    return JSONResponse(body, status_code=503 if status == UNHEALTHY else 200)
