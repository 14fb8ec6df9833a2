"""The dashboard's autonomy page: per category, reviews, precision, coverage and whether auto-send is allowed;
admins grant, revoke or reset it. Same service as `/autonomy` in the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emailbot.auth.keys import Role
from emailbot.autonomy import service
from emailbot.autonomy.service import AutonomyError, Verb
from emailbot.ui.web import action, done, page

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/autonomy")
async def autonomy(request: Request) -> Response:
    current = await page(request)
    return current.render("autonomy.html", table=await service.overview(current.runtime))


@router.post("/autonomy/{category}/{verb}")
async def change(request: Request, category: str, verb: str) -> Response:
    current, form = await action(request, Role.ADMIN)
    if verb not in {v.value for v in Verb}:
        return await done(current, "No such action.", "/ui/autonomy", "autonomy.unknown", category[:100])
    try:
        message = await service.change_now(
            current.runtime, category, Verb(verb), current.principal_name, form.get("reason", "")
        )
    except AutonomyError as exc:
        message = exc.message
    return await done(current, message, "/ui/autonomy", f"autonomy.{verb}", f"category:{category[:100]}")
