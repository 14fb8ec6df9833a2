"""The learning loop over HTTP: what the feedback says about accuracy and thresholds, and retraining on demand."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.learning.feedback_data import judged, threshold_for_precision
from emailbot.learning.schedule import interval_hours, retrain_now
from emailbot.store.stats import classification_accuracy
from emailbot.store.tables import FeedbackRow

router = APIRouter(prefix="/learning", tags=["learning"])


@router.get("/status")
async def status(runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    counts = await session.execute(select(FeedbackRow.kind, func.count()).group_by(FeedbackRow.kind))
    return {
        "model": getattr(runtime.classifier, "version", None),
        "classification_accuracy": await classification_accuracy(session),
        "feedback": {kind: count for kind, count in counts},
        "retrain_interval_hours": interval_hours(runtime),
        "retrain_min_feedback": runtime.settings.retrain_min_feedback,
    }


@router.get("/thresholds")
async def thresholds(
    session: SessionDep, target_precision: Annotated[float, Query(gt=0, le=1)] = 0.9
) -> dict[str, Any]:
    """The lowest confidence threshold at which the reviewed emails were right `target_precision` of the time."""
    return asdict(threshold_for_precision(await judged(session), target_precision))


@router.post("/retrain")
async def retrain(runtime: RuntimeDep) -> dict[str, Any]:
    """Train on the starter data plus the feedback; the new model is activated only if not worse on held-out data."""
    return (await retrain_now(runtime)).as_dict()
