"""Configuration: validation of what is configured (and, later, the settings operators may change at run time)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from emailbot.api.deps import RuntimeDep
from emailbot.ops.validation import validate_configuration
from emailbot.store.tables import utcnow

router = APIRouter(prefix="/config", tags=["config"])


@router.get("/validation")
async def validation(runtime: RuntimeDep) -> dict[str, Any]:
    """Each configured part checked, with one sentence saying what to fix when it is not right."""
    status, results = await validate_configuration(runtime)
    return {
        "status": status,
        "timestamp": utcnow().isoformat(),
        "validations": {name: result.as_dict() for name, result in results.items()},
    }
