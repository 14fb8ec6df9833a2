"""Review actions on emails and the review queue. (Escalations are resolved through `/escalations`.)"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.api.errors import ApiError
from emailbot.auth.keys import Principal
from emailbot.review import actions
from emailbot.review.noise import pull_back
from emailbot.review.queue import review_queue

router = APIRouter(tags=["review"])


class Approval(BaseModel):
    text: str | None = Field(default=None, max_length=100_000, description="The edited reply; the draft when absent.")


class Rejection(BaseModel):
    reason: str = Field(default="", max_length=2000)


class Correction(BaseModel):
    category: str = Field(min_length=1, max_length=100)


def actor(request: Request) -> str:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.name if principal else "anonymous"


def _result(outcome: actions.Outcome) -> dict[str, Any]:
    return asdict(outcome)


async def _run(action: Any) -> dict[str, Any]:
    try:
        return _result(await action)
    except actions.ReviewError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


@router.get("/review/queue")
async def queue(
    session: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    assigned_to: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Drafts waiting for approval and emails flagged for a person, oldest first; `assigned_to` keeps one person's
    (the conversations they answered), an empty value the unassigned ones."""
    offset = (page - 1) * page_size
    items, total = await review_queue(session, limit=page_size, offset=offset, assigned_to=assigned_to)
    return {"items": [asdict(item) for item in items], "total": total, "page": page, "page_size": page_size}


@router.post("/emails/{email_id}/approve")
async def approve(email_id: int, body: Approval, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Send the draft, or the edited text, as the reply in the thread. A repeated call sends nothing more."""
    return await _run(actions.approve(runtime, email_id, body.text, actor(request)))


@router.post("/emails/{email_id}/reject")
async def reject(email_id: int, body: Rejection, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    return await _run(actions.reject(runtime, email_id, body.reason, actor(request)))


@router.post("/emails/{email_id}/category")
async def correct(email_id: int, body: Correction, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Correct (or confirm) the email's category; the correction is feedback the next training uses."""
    return await _run(actions.correct_category(runtime, email_id, body.category, actor(request)))


@router.post("/emails/{email_id}/not-noise")
async def not_noise(email_id: int, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Pull back an email left alone as noise (NO_ACTION): it goes to human review, and counts as feedback."""
    return await _run(pull_back(runtime, email_id, actor(request)))


@router.post("/emails/{email_id}/reviewed")
async def reviewed(email_id: int, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Looked at, category right, nothing to send: the email leaves the review queue."""
    return await _run(actions.confirm(runtime, email_id, actor(request)))


@router.post("/emails/{email_id}/reprocess")
async def reprocess(email_id: int, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    return await _run(actions.reprocess(runtime, email_id, actor(request)))
