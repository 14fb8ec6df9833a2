"""Analytics: KPIs, performance over a period, discovered patterns and capacity (the manual's scripts read these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from emailbot.analytics.capacity import analyze_capacity
from emailbot.analytics.kpis import kpi_summary
from emailbot.analytics.patterns import stored_patterns
from emailbot.analytics.performance import performance_report
from emailbot.api.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("/kpis")
async def kpis(
    runtime: RuntimeDep, session: SessionDep, hours: Annotated[int, Query(ge=1, le=24 * 366)] = 24
) -> dict[str, Any]:
    """email_processing, classification, system and availability over the last `hours`."""
    system = runtime.ops.resources(runtime.settings.data_dir)
    return await kpi_summary(session, runtime.settings, runtime.started_at, hours, system)


@router.get("/performance")
async def performance(
    runtime: RuntimeDep, session: SessionDep, period: Literal["day", "week", "month"] = "day"
) -> dict[str, Any]:
    """metrics, trends, confidence and category distributions and goals for the last day, week or 30 days."""
    return await performance_report(session, runtime.settings, period)


@router.get("/patterns")
async def patterns(
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    category: Annotated[str | None, Query(max_length=100)] = None,
    min_frequency: Annotated[int, Query(ge=1)] = 2,
    kind: Literal["cluster", "sender", "subject"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The patterns found by the last analysis (`POST /internal/patterns/analyze`), most automatable first."""
    return await stored_patterns(
        session, days=days, category=category, min_frequency=min_frequency, kind=kind, limit=limit
    )


@router.get("/capacity")
async def capacity(
    runtime: RuntimeDep, session: SessionDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> dict[str, Any]:
    """Volume and resource trends, storage projection and recommendations over the last `days`."""
    return await analyze_capacity(session, runtime.settings, days)
