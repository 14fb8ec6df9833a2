"""Configuration: validation of what is configured (and, later, the settings operators may change at run time)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.api.errors import ApiError
from emailbot.api.review import actor
from emailbot.ops import live_settings
from emailbot.store.tables import utcnow
from emailbot.validation import validate_configuration

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


@router.get("/settings")
async def get_settings(runtime: RuntimeDep) -> dict[str, Any]:
    """The settings that can change at run time, as the running engine uses them now."""
    return {"settings": live_settings.current(runtime).model_dump(mode="json")}


@router.put("/settings")
async def put_settings(
    changes: Annotated[dict[str, Any], Body(examples=[{"threshold_auto": 90}])],
    runtime: RuntimeDep,
    session: SessionDep,
    request: Request,
) -> dict[str, Any]:
    """Change any of them (the rest stay): validated together, stored, and applied to the running engine at once."""
    if not changes:
        raise ApiError(422, "validation_error", "Give at least one setting to change.")
    try:
        values = await live_settings.save(session, runtime, changes, actor(request))
    except live_settings.LiveSettingsError as exc:
        raise ApiError(422, "validation_error", "The settings are not valid.", exc.details) from None
    return {"settings": values.model_dump(mode="json"), "changed": sorted(changes)}
