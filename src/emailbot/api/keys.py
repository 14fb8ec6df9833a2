"""API keys over HTTP, for admins: list them (never the keys), create one (shown in that response only), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from emailbot.api.deps import SessionDep
from emailbot.api.errors import ApiError
from emailbot.api.review import actor
from emailbot.auth.keys import Role, create_key, list_keys, revoke_key
from emailbot.store.tables import ApiKeyRow

router = APIRouter(prefix="/keys", tags=["keys"])


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


def as_dict(row: ApiKeyRow) -> dict[str, Any]:
    names = ("id", "name", "prefix", "role", "created_by", "created_at", "last_used_at", "revoked_at")
    return {name: getattr(row, name) for name in names}


@router.get("")
async def keys(session: SessionDep) -> dict[str, Any]:
    return {"items": [as_dict(row) for row in await list_keys(session)]}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create(body: NewKey, session: SessionDep, request: Request) -> dict[str, Any]:
    """The key is returned here and never again: only its SHA-256 is stored."""
    key = await create_key(session, body.name, body.role, created_by=actor(request))
    return {"key": key, "prefix": key[:11], "name": body.name.strip(), "role": body.role.value}


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke(key_id: int, session: SessionDep) -> None:
    if not await revoke_key(session, str(key_id)):
        raise ApiError(404, "not_found", f"No active key {key_id}.")
