"""Settings operators change at run time (`PUT /config/settings`, the dashboard): validated, stored in the
`runtime_settings` table, and applied to the running engine at once and again at every start."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Thresholds
from emailbot.runtime import Runtime
from emailbot.store.tables import RuntimeSettingRow, utcnow

log = logging.getLogger(__name__)
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


class LiveSettings(BaseModel):
    """Everything that can change without a restart, with the same limits as the environment variables."""

    model_config = ConfigDict(extra="forbid")

    threshold_auto: float = Field(ge=0, le=100)
    threshold_suggest: float = Field(ge=0, le=100)
    threshold_review: float = Field(ge=0, le=100)
    poll_interval_seconds: float = Field(gt=0, le=3600)
    max_replies_per_sender_per_hour: int = Field(ge=0, le=1000)
    escalation_default_members: list[str] = Field(max_length=50)
    retrain_interval_hours: float = Field(ge=0, le=24 * 365)

    @field_validator("escalation_default_members")
    @classmethod
    def _addresses(cls, members: list[str]) -> list[str]:
        cleaned = [member.strip() for member in members if member.strip()]
        wrong = [member for member in cleaned if not _ADDRESS.fullmatch(member)]
        if wrong:
            raise ValueError(f"not an email address: {', '.join(wrong)}")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> LiveSettings:
        if not self.threshold_auto > self.threshold_suggest > self.threshold_review:
            raise ValueError("thresholds must satisfy threshold_auto > threshold_suggest > threshold_review")
        return self


class LiveSettingsError(ValueError):
    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, d['location']))}: {d['message']}" for d in details))
        self.details = details


def current(runtime: Runtime) -> LiveSettings:
    """What the running engine uses now."""
    thresholds = runtime.config.thresholds
    return LiveSettings.model_construct(
        threshold_auto=thresholds.auto,
        threshold_suggest=thresholds.suggest,
        threshold_review=thresholds.review,
        poll_interval_seconds=runtime.engine.timing.poll_interval,
        max_replies_per_sender_per_hour=runtime.config.max_replies_per_sender_per_hour,
        escalation_default_members=list(runtime.processor.planner.default_members),
        retrain_interval_hours=float(
            runtime.overrides.get("retrain_interval_hours", runtime.settings.retrain_interval_hours)
        ),
    )


def merged(runtime: Runtime, changes: dict[str, Any]) -> LiveSettings:
    """The current values with `changes` applied, validated as a whole (thresholds are checked together)."""
    unknown = sorted(set(changes) - set(LiveSettings.model_fields))
    if unknown:
        raise LiveSettingsError(
            [{"location": [name], "message": "not a setting that can be changed at run time"} for name in unknown]
        )
    try:
        return LiveSettings.model_validate({**current(runtime).model_dump(), **changes})
    except ValidationError as exc:
        raise LiveSettingsError(
            [
                {"location": list(error["loc"]) or ["settings"], "message": error["msg"].removeprefix("Value error, ")}
                for error in exc.errors()
            ]
        ) from None


def apply(runtime: Runtime, values: LiveSettings) -> None:
    runtime.config.thresholds = Thresholds(values.threshold_auto, values.threshold_suggest, values.threshold_review)
    runtime.config.max_replies_per_sender_per_hour = values.max_replies_per_sender_per_hour
    runtime.processor.planner.default_members = tuple(str(member) for member in values.escalation_default_members)
    runtime.overrides["retrain_interval_hours"] = values.retrain_interval_hours
    if runtime.engine.timing.poll_interval != values.poll_interval_seconds:
        runtime.engine.timing = replace(runtime.engine.timing, poll_interval=values.poll_interval_seconds)
        runtime.engine.trigger()  # the poll loop picks the new interval up now, not after the old one


async def save(session: AsyncSession, runtime: Runtime, changes: dict[str, Any], actor: str) -> LiveSettings:
    values = merged(runtime, changes)
    stored = values.model_dump(mode="json")
    for name in changes:
        row = await session.get(RuntimeSettingRow, name)
        if row is None:
            session.add(
                RuntimeSettingRow(name=name, value={"value": stored[name]}, updated_by=actor, updated_at=utcnow())
            )
        else:
            row.value, row.updated_by, row.updated_at = {"value": stored[name]}, actor, utcnow()
    await session.flush()
    apply(runtime, values)
    return values


async def load_stored(runtime: Runtime) -> None:
    """At start-up: values changed at run time win over the environment. A stored value that no longer passes
    validation (the limits changed) is ignored rather than stopping the service."""
    async with runtime.db.transaction() as session:
        rows = await session.scalars(select(RuntimeSettingRow))
        changes = {row.name: row.value.get("value") for row in rows if row.name in LiveSettings.model_fields}
    if changes:
        try:
            apply(runtime, merged(runtime, changes))
        except LiveSettingsError:
            log.warning("stored run-time settings are not valid any more; using the environment")
