"""Earned autonomy as the API, the dashboard and the pipeline use it: the per-category table, an admin's grant,
revoke or reset (audited), and the gate the processor routes with, cached a few seconds per process.

Services don't commit: the caller owns the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.auth import audit
from emailbot.autonomy.policy import CategoryAutonomy, Target, assess, gate
from emailbot.pipeline.route import AutonomyGate
from emailbot.store import autonomy as store
from emailbot.store.reviews import category_coverage, reviewed_emails
from emailbot.store.tables import utcnow

if TYPE_CHECKING:
    from emailbot.pipeline.process import EngineConfig
    from emailbot.settings import Settings
    from emailbot.store.db import Database
    from emailbot.taxonomy import Taxonomy


class Host(Protocol):
    """What the service needs of the running EmailBot (the runtime provides it; the runtime imports this module
    to build the gate, so the service names the parts it reads instead of importing the runtime)."""

    settings: Settings
    db: Database
    taxonomy: Taxonomy
    config: EngineConfig


COVERAGE_DAYS = 30
GATE_SECONDS = 5.0  # how stale a grant may be in another process; each batch asks


def target_of(settings: Settings) -> Target:
    return Target(settings.autonomy_target_precision, settings.autonomy_min_reviews)


class Verb(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"
    RESET = "reset"  # back to what the reviews say


class AutonomyError(Exception):
    """A change that cannot be made; `status` and `code` are the API's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def table(
    session: AsyncSession, categories: Sequence[str], threshold: float, target: Target
) -> list[CategoryAutonomy]:
    since = utcnow() - timedelta(days=COVERAGE_DAYS)
    return assess(
        categories,
        await reviewed_emails(session),
        await category_coverage(session, threshold, since),
        await store.overrides(session),
        threshold,
        target,
    )


async def change(
    session: AsyncSession, categories: Sequence[str], category: str, verb: Verb, actor: str, reason: str = ""
) -> str:
    """Grant, revoke or reset one category by hand; written to the audit log in the same transaction."""
    category = category.strip().upper()
    if category not in categories:
        raise AutonomyError(404, "not_found", f"Unknown category {category!r}; one of {', '.join(categories)}.")
    reason = reason.strip()
    if verb == Verb.RESET:
        found = await store.clear_override(session, category)
        message = f"{category}: auto-send follows the reviews again." if found else f"{category} had no override."
    else:
        state = store.OverrideState.GRANTED if verb == Verb.GRANT else store.OverrideState.REVOKED
        await store.set_override(session, category, state, actor, reason)
        message = f"Auto-send {state.value} for {category} by {actor}."
    audit.add_entry(session, actor, f"autonomy.{verb.value}", f"category:{category}", {"reason": reason[:500]})
    return message


class CachedGate:
    """The processor's source of the gate: recomputed from the database at most every `seconds` in this process,
    so a grant made anywhere (another process, another host) applies within seconds and without a restart."""

    def __init__(
        self,
        categories: Sequence[str],
        target: Target,
        seconds: float = GATE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.categories = tuple(categories)
        self.target = target
        self.seconds = seconds
        self.clock = clock
        self._cached: tuple[float, float, AutonomyGate] | None = None  # (computed at, threshold, gate)

    async def __call__(self, session: AsyncSession, threshold: float) -> AutonomyGate:
        now = self.clock()
        cached = self._cached
        if cached is not None and cached[1] == threshold and now - cached[0] < self.seconds:
            return cached[2]
        fresh = gate(await table(session, self.categories, threshold, self.target))
        self._cached = (now, threshold, fresh)
        return fresh

    def invalidate(self) -> None:
        """A change made in this process applies to the next batch."""
        self._cached = None


async def overview(runtime: Host) -> dict[str, Any]:
    """The per-category table as the API returns it and the dashboard shows it."""
    settings, threshold = runtime.settings, runtime.config.thresholds.auto
    target = target_of(settings)
    async with runtime.db.transaction() as session:
        rows = await table(session, runtime.taxonomy.names, threshold, target)
    always = settings.autonomy == "always"
    return {
        "mode": settings.autonomy,
        "target_precision": target.precision,
        "min_reviews": target.min_reviews,
        "auto_threshold": threshold,
        "coverage_days": COVERAGE_DAYS,
        "items": [as_dict(row, always=always) for row in rows],
    }


def as_dict(row: CategoryAutonomy, *, always: bool = False) -> dict[str, Any]:
    override = row.override
    return {
        "category": row.category,
        "reviews": row.reviews,
        "confirmed": row.confirmed,
        "precision": row.precision,
        "emails": row.emails,
        "emails_at_or_above_threshold": row.above_threshold,
        "coverage": row.coverage,
        "earned": row.earned,
        "auto_send": always or row.allowed,
        "status": "always (EMAILBOT_AUTONOMY=always)" if always else row.status,
        "override": None
        if override is None
        else {
            "state": override.state.value,
            "actor": override.actor,
            "reason": override.reason,
            "changed_at": override.changed_at.isoformat(),
        },
        "blocked_because": None if always else row.why_not(),
    }


async def change_now(runtime: Host, category: str, verb: Verb, actor: str, reason: str = "") -> str:
    """One change in its own transaction; this process's next batch already routes with it."""
    async with runtime.db.transaction() as session:
        message = await change(session, runtime.taxonomy.names, category, verb, actor, reason)
    if isinstance(runtime.config.autonomy, CachedGate):
        runtime.config.autonomy.invalidate()
    return message
