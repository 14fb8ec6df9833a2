"""The dashboard's admin pages: run-time settings, operator rules, API keys, and the learning loop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from emailbot.api.rules import SAMPLE, RuleIn, as_dict
from emailbot.auth import audit
from emailbot.auth.keys import Role, create_key, list_keys, revoke_key
from emailbot.domain import RuleAction
from emailbot.learning.feedback_data import judged, threshold_for_precision
from emailbot.learning.schedule import interval_hours, retrain_now
from emailbot.ops import live_settings
from emailbot.pipeline.templates import TemplateRenderError
from emailbot.store.stats import processing_stats
from emailbot.store.tables import ProcessingRuleRow, utcnow
from emailbot.ui.web import Page, action, done, page

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/settings")
async def settings(request: Request, errors: str = "") -> Response:
    current = await page(request)
    return await _settings_page(current)


async def _settings_page(
    current: Page, status: int = 200, problems: list[str] | None = None, draft: dict[str, str] | None = None
) -> Response:
    async with current.runtime.db.transaction() as session:
        rules = [
            as_dict(row)
            for row in await session.scalars(
                select(ProcessingRuleRow).order_by(ProcessingRuleRow.priority, ProcessingRuleRow.id)
            )
        ]
        keys = await list_keys(session) if current.session.principal.role == Role.ADMIN else []
    return current.render(
        "settings.html",
        status,
        values=live_settings.current(current.runtime),
        rules=rules,
        problems=problems or [],
        keys=keys,
        roles=[role.value for role in Role],
        rule_actions=[a.value for a in RuleAction],
        categories=current.runtime.taxonomy.names,
        draft=draft or {},
    )


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    current, form = await action(request, Role.ADMIN)
    fields = live_settings.LiveSettings.model_fields
    changes: dict[str, Any] = {name: form[name] for name in fields if name in form}
    if "escalation_default_members" in changes:
        changes["escalation_default_members"] = [
            m.strip() for m in changes["escalation_default_members"].replace(",", "\n").splitlines() if m.strip()
        ]
    try:
        async with current.runtime.db.transaction() as session:
            await live_settings.save(session, current.runtime, changes, current.principal_name)
    except live_settings.LiveSettingsError as exc:
        return await _settings_page(current, 422, [str(exc)])
    return await done(current, "Settings saved and applied.", "/ui/settings", "settings.update", "settings")


@router.post("/rules")
async def create_rule(request: Request) -> Response:
    current, form = await action(request, Role.ADMIN)
    fields = {
        name: form.get(name) or None
        for name in ("name", "action", "priority", "sender", "domain", "subject_contains", "category", "template")
    }
    fields["enabled"] = "on" if "enabled" in form else "off"
    try:
        rule = RuleIn.model_validate({k: v for k, v in fields.items() if v is not None})
        _check_rule(current, rule)
    except (ValidationError, ValueError) as exc:
        problems = (
            [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [str(exc)]
        )
        return await _settings_page(current, 422, problems, {k: str(v or "") for k, v in fields.items()})
    now = utcnow()
    async with current.runtime.db.transaction() as session:
        row = ProcessingRuleRow(**rule.model_dump(mode="json"), created_at=now, updated_at=now)
        session.add(row)
    return await done(current, f"Rule {rule.name!r} added.", "/ui/settings", "rule.create", "rules")


def _check_rule(current: Page, rule: RuleIn) -> None:
    if rule.category and rule.category not in current.runtime.taxonomy.names:
        raise ValueError(f"unknown category {rule.category!r}")
    if rule.template:
        try:
            current.runtime.processor.planner.templates.render_string(rule.template, SAMPLE)
        except TemplateRenderError as exc:
            raise ValueError(f"the template does not render: {exc}") from None


@router.post("/rules/{rule_id}/{verb}")
async def change_rule(request: Request, rule_id: int, verb: str) -> Response:
    current, _ = await action(request, Role.ADMIN)
    async with current.runtime.db.transaction() as session:
        row = await session.get(ProcessingRuleRow, rule_id)
        if row is None:
            message = f"Rule {rule_id} does not exist."
        elif verb == "delete":
            await session.delete(row)
            message = f"Rule {row.name!r} deleted."
        elif verb == "toggle":
            row.enabled, row.updated_at = not row.enabled, utcnow()
            message = f"Rule {row.name!r} {'enabled' if row.enabled else 'disabled'}."
        else:
            message = "No such action."
    return await done(current, message, "/ui/settings", f"rule.{verb}", f"rule:{rule_id}")


@router.get("/learning")
async def learning(request: Request, target_precision: Annotated[float, Query(gt=0, le=100)] = 90) -> Response:
    current = await page(request)
    async with current.runtime.db.transaction() as session:
        reviewed = await judged(session)
        stats = await processing_stats(session)
    advice = threshold_for_precision(reviewed, target_precision / 100)
    return current.render(
        "learning.html",
        advice=advice,
        target=target_precision,
        reviewed=reviewed,
        stats=stats,
        model=getattr(current.runtime.classifier, "version", None),
        interval=interval_hours(current.runtime),
        thresholds=current.runtime.config.thresholds,
    )


@router.post("/learning/retrain")
async def retrain(request: Request) -> Response:
    current, _ = await action(request, Role.ADMIN)
    report = await retrain_now(current.runtime)
    return await done(current, report.message, "/ui/learning", "model.retrain", "model")


@router.post("/keys")
async def new_key(request: Request) -> Response:
    """The new key is shown on this response only (never kept in the session's message, which is stored)."""
    current, form = await action(request, Role.ADMIN)
    name, role = form.get("name", "").strip(), form.get("role", "")
    if not name or role not in {r.value for r in Role}:
        return await _settings_page(current, 422, ["A key needs a name and a role."])
    async with current.runtime.db.transaction() as session:
        key = await create_key(session, name, Role(role), created_by=current.principal_name)
    await audit.record(current.runtime.db, current.principal_name, "ui.key.create", f"key:{key[:11]}", {"role": role})
    return current.render("key_created.html", key=key, name=name, role=role)


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: int) -> Response:
    current, _ = await action(request, Role.ADMIN)
    async with current.runtime.db.transaction() as session:
        count = await revoke_key(session, str(key_id))
    message = "Key revoked; its sessions have ended." if count else "No such active key."
    return await done(current, message, "/ui/settings", "key.revoke", f"key:{key_id}")
