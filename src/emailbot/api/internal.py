"""Maintenance calls the manual's daily and monthly scripts make (they also run on the schedule)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from emailbot.api.deps import RuntimeDep
from emailbot.ops.schedule import analyze_patterns, update_metrics

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/metrics/update")
async def metrics_update(
    runtime: RuntimeDep, days: Annotated[int | None, Query(ge=1, le=3660)] = None
) -> dict[str, Any]:
    """Materialize the daily aggregates: the last `days`, or since the newest materialized day."""
    result = await update_metrics(runtime, days)
    return {"status": "completed", **result}


@router.post("/patterns/analyze")
async def patterns_analyze(runtime: RuntimeDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
    """Find the recurring emails of the last `days` and replace the stored patterns."""
    return await analyze_patterns(runtime, days)
