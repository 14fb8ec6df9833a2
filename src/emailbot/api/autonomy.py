"""Earned autonomy per category (`/autonomy`): reviews so far, measured precision, coverage at the auto threshold,
whether auto-send is allowed; admins grant, revoke or reset it by hand (docs/autonomy.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from emailbot.api.deps import RuntimeDep
from emailbot.api.errors import ApiError
from emailbot.api.review import actor
from emailbot.autonomy import service
from emailbot.autonomy.service import AutonomyError, Verb

router = APIRouter(prefix="/autonomy", tags=["autonomy"])
Category = Annotated[str, Path(min_length=1, max_length=100, description="A category of the taxonomy.")]


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000, description="Why; kept with the override and in the audit log.")


@router.get("")
async def autonomy(runtime: RuntimeDep) -> dict[str, Any]:
    """Per category: reviews, precision, coverage at the current auto threshold, and whether auto-send is allowed."""
    return await service.overview(runtime)


async def _change(runtime: RuntimeDep, request: Request, category: str, verb: Verb, body: Change | None) -> Any:
    try:
        message = await service.change_now(runtime, category, verb, actor(request), body.reason if body else "")
    except AutonomyError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    table = await service.overview(runtime)
    row = next(item for item in table["items"] if item["category"] == category.strip().upper())
    return {"message": message, "category": row}


@router.post("/{category}/grant")
async def grant(category: Category, runtime: RuntimeDep, request: Request, body: Change | None = None) -> Any:
    """Allow auto-send for the category now, before its reviews earn it (admin)."""
    return await _change(runtime, request, category, Verb.GRANT, body)


@router.post("/{category}/revoke")
async def revoke(category: Category, runtime: RuntimeDep, request: Request, body: Change | None = None) -> Any:
    """Stop auto-send for the category, whatever its reviews say (admin)."""
    return await _change(runtime, request, category, Verb.REVOKE, body)


@router.post("/{category}/reset")
async def reset(category: Category, runtime: RuntimeDep, request: Request, body: Change | None = None) -> Any:
    """Remove the grant or revoke: the reviews decide again (admin)."""
    return await _change(runtime, request, category, Verb.RESET, body)
