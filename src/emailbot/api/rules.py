"""Operator rules (`/processing/rules`): conditions on sender, domain, subject and category, and an action.

A rule is validated against what routing understands (`emailbot.pipeline.route`): a known action and category, at
least one condition, a reply template that renders in the sandbox. Rules run before policy and confidence; the loop
guards still run after them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import select

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.api.errors import ApiError
from emailbot.domain import RuleAction
from emailbot.pipeline.templates import ReplyContext, TemplateRenderError
from emailbot.store.tables import ProcessingRuleRow, utcnow

router = APIRouter(prefix="/processing/rules", tags=["rules"])

_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN = re.compile(r"@?([a-z0-9-]+\.)+[a-z0-9-]+", re.IGNORECASE)
SAMPLE = ReplyContext(1, "Sample subject", "Sam Sample", "sam@example.com", "SUPPORT", "Help Desk")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    action: RuleAction
    priority: int = Field(default=100, ge=0, le=100_000)
    enabled: bool = True
    sender: str | None = Field(default=None, max_length=320)
    domain: str | None = Field(default=None, max_length=255)
    subject_contains: str | None = Field(default=None, max_length=500)
    category: str | None = Field(default=None, max_length=100)
    template: str | None = Field(default=None, max_length=20_000)

    @field_validator("sender", "domain", "subject_contains", "category", "template")
    @classmethod
    def _blank_is_none(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if value and info.field_name == "sender" and not _ADDRESS.fullmatch(value):
            raise ValueError("not an email address")
        if value and info.field_name == "domain" and not _DOMAIN.fullmatch(value):
            raise ValueError("not a domain name (like example.com)")
        return value.upper() if value and info.field_name == "category" else value

    @model_validator(mode="after")
    def _meaningful(self) -> RuleIn:
        if not any((self.sender, self.domain, self.subject_contains, self.category)):
            raise ValueError("a rule needs at least one condition: sender, domain, subject_contains or category")
        if self.template and self.action != RuleAction.REPLY:
            raise ValueError("a template only makes sense with the action 'reply'")
        return self


def validate_rule(rule: RuleIn, request: Request) -> None:
    """What only the running service can check: the category exists and the template renders."""
    runtime = request.app.state.runtime
    if rule.category and rule.category not in runtime.taxonomy.names:
        raise ApiError(
            422,
            "validation_error",
            f"Unknown category {rule.category!r}.",
            {"categories": list(runtime.taxonomy.names)},
        )
    if rule.template:
        try:
            runtime.processor.planner.templates.render_string(rule.template, SAMPLE)
        except TemplateRenderError as exc:
            raise ApiError(422, "validation_error", f"The template does not render: {exc}") from None


def as_dict(row: ProcessingRuleRow) -> dict[str, Any]:
    names = (
        "id",
        "name",
        "priority",
        "enabled",
        "sender",
        "domain",
        "subject_contains",
        "category",
        "action",
        "template",
        "created_at",
        "updated_at",
    )
    return {name: getattr(row, name) for name in names}


RuleId = Annotated[int, Path(ge=1)]


async def _get(session: SessionDep, rule_id: int) -> ProcessingRuleRow:
    row = await session.get(ProcessingRuleRow, rule_id)
    if row is None:
        raise ApiError(404, "not_found", f"Rule {rule_id} does not exist.")
    return row


@router.get("")
async def list_rules(session: SessionDep) -> dict[str, Any]:
    rows = await session.scalars(select(ProcessingRuleRow).order_by(ProcessingRuleRow.priority, ProcessingRuleRow.id))
    return {"items": [as_dict(row) for row in rows]}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_rule(rule: RuleIn, session: SessionDep, request: Request) -> dict[str, Any]:
    validate_rule(rule, request)
    now = utcnow()
    row = ProcessingRuleRow(**rule.model_dump(mode="json"), created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return as_dict(row)


@router.get("/{rule_id}")
async def get_rule(rule_id: RuleId, session: SessionDep) -> dict[str, Any]:
    return as_dict(await _get(session, rule_id))


@router.put("/{rule_id}")
async def replace_rule(rule_id: RuleId, rule: RuleIn, session: SessionDep, request: Request) -> dict[str, Any]:
    validate_rule(rule, request)
    row = await _get(session, rule_id)
    for name, value in rule.model_dump(mode="json").items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.flush()
    return as_dict(row)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: RuleId, session: SessionDep, runtime: RuntimeDep) -> Response:
    await session.delete(await _get(session, rule_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
