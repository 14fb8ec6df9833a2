"""Service information and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from emailbot import __version__
from emailbot.api.deps import RuntimeDep
from emailbot.ops.health import UNHEALTHY, detailed_health
from emailbot.store.tables import utcnow

router = APIRouter(tags=["system"])


@router.get("/")
async def root(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "service": "EmailBot",
        "version": __version__,
        "status": "running" if runtime.engine.running else "api-only",
        "mailbox": runtime.mailbox.address,
        "docs": "/docs",
        "health": "/health",
    }


@router.get("/health", responses={503: {"description": "unhealthy"}})
async def health(runtime: RuntimeDep) -> JSONResponse:
    status, components = await detailed_health(runtime)
    body = {
        "status": status,
        "timestamp": utcnow().isoformat(),
        "version": __version__,
        "checks": {name: component.status for name, component in components.items()},
    }
    return JSONResponse(body, status_code=503 if status == UNHEALTHY else 200)


@router.get("/health/detailed", responses={503: {"description": "unhealthy"}})
async def health_detailed(runtime: RuntimeDep) -> JSONResponse:
    status, components = await detailed_health(runtime)
    body = {
        "status": status,
        "timestamp": utcnow().isoformat(),
        "version": __version__,
        "uptime_seconds": round((utcnow() - runtime.started_at).total_seconds(), 1),
        "components": {name: component.as_dict() for name, component in components.items()},
    }
    return JSONResponse(body, status_code=503 if status == UNHEALTHY else 200)
