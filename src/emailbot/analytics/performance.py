"""Processing performance over a window (the manual's PerformanceMetrics and `/analytics/performance`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.analytics.daily import Bucket, buckets_between
from emailbot.domain import Action
from emailbot.settings import Settings
from emailbot.store.tables import FeedbackRow, utcnow

PERIODS = {"day": 1, "week": 7, "month": 30}
CORRECTION = "category_corrected"
CONFIDENCE_BANDS = {
    "0-39": "confidence_below_40",
    "40-59": "confidence_40_59",
    "60-84": "confidence_60_84",
    "85-100": "confidence_85_up",
}
# What a well-run desk reaches; success rate and processing time come from the alert thresholds.
ACCURACY_TARGET = 0.85
AUTOMATION_TARGET = 0.5
ESCALATION_CEILING = 0.10


@dataclass(frozen=True, slots=True)
class Summary:
    received: int
    processed: int
    completed: int
    failed: int
    average_processing_time: float | None
    automated: int
    escalated: int
    confidence_distribution: dict[str, int]
    category_distribution: dict[str, int]
    average_confidence: float | None

    @property
    def success_rate(self) -> float | None:
        return _ratio(self.completed, self.processed)

    @property
    def automation_rate(self) -> float | None:
        return _ratio(self.automated, self.processed)

    @property
    def escalation_rate(self) -> float | None:
        return _ratio(self.escalated, self.processed)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(buckets: Iterable[Bucket]) -> Summary:
    totals: dict[str, float] = defaultdict(float)
    by_action: dict[str, float] = defaultdict(float)
    by_category: dict[str, int] = defaultdict(int)
    for bucket in buckets:
        for name, value in bucket.counts.items():
            totals[name] += value
        processed = bucket.counts["completed"] + bucket.counts["failed"]
        by_action[bucket.action] += bucket.counts["completed"]
        if bucket.category and processed:
            by_category[bucket.category] += int(processed)
    processing_count = totals["processing_count"]
    confidence_count = totals["confidence_count"]
    return Summary(
        received=int(totals["received"]),
        processed=int(totals["completed"] + totals["failed"]),
        completed=int(totals["completed"]),
        failed=int(totals["failed"]),
        average_processing_time=round(totals["processing_ms_sum"] / processing_count / 1000, 4)
        if processing_count
        else None,
        automated=int(by_action[Action.AUTO_HANDLE.value]),
        escalated=int(by_action[Action.ESCALATE.value]),
        confidence_distribution={band: int(totals[column]) for band, column in CONFIDENCE_BANDS.items()},
        category_distribution=dict(sorted(by_category.items(), key=lambda item: -item[1])),
        average_confidence=round(totals["confidence_sum"] / confidence_count, 2) if confidence_count else None,
    )


async def classification_accuracy(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    """Of the emails a person reviewed in the window, the share whose category they did not correct."""
    reviewed = func.count(func.distinct(FeedbackRow.email_id))
    corrected = func.count(func.distinct(case((FeedbackRow.kind == CORRECTION, FeedbackRow.email_id))))
    total, wrong = (
        await session.execute(
            select(reviewed, corrected).where(FeedbackRow.created_at >= start, FeedbackRow.created_at < end)
        )
    ).one()
    return {"accuracy": round(1 - wrong / total, 4) if total else None, "reviewed": total, "corrected": wrong}


def daily_series(buckets: Iterable[Bucket], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One entry for every day of the window, quiet days included (a chart needs its gaps)."""
    per_day: dict[date, list[Bucket]] = defaultdict(list)
    for bucket in buckets:
        per_day[bucket.day].append(bucket)
    series = []
    for offset in range((end.date() - start.date()).days + 1):
        day = start.date() + timedelta(days=offset)
        summary = summarize(per_day.get(day, []))
        series.append(
            {
                "date": day.isoformat(),
                "emails_received": summary.received,
                "emails_processed": summary.processed,
                "success_rate": summary.success_rate,
                "average_processing_time": summary.average_processing_time,
                "automation_rate": summary.automation_rate,
                "escalation_rate": summary.escalation_rate,
            }
        )
    return series


async def performance_report(session: AsyncSession, settings: Settings, period: str) -> dict[str, Any]:
    end = utcnow()
    length = timedelta(days=PERIODS[period])
    start = end - length
    buckets = await buckets_between(session, start, end)
    previous = summarize(await buckets_between(session, start - length, start))
    current = summarize(buckets)
    accuracy = await classification_accuracy(session, start, end)
    metrics = _metrics(current, accuracy)
    return {
        "period": period,
        "time_range": {"start": start.isoformat(), "end": end.isoformat(), "days": PERIODS[period]},
        "metrics": metrics,
        "confidence_distribution": current.confidence_distribution,
        "category_distribution": current.category_distribution,
        "trends": {
            "daily": daily_series(buckets, start, end),
            "vs_previous_period": _changes(current, previous),
        },
        "performance_goals": performance_goals(metrics, settings),
    }


def _metrics(summary: Summary, accuracy: dict[str, Any]) -> dict[str, Any]:
    return {
        "emails_received": summary.received,
        "emails_processed": summary.processed,
        "emails_failed": summary.failed,
        "success_rate": summary.success_rate,
        "average_processing_time": summary.average_processing_time,
        "classification_accuracy": accuracy["accuracy"],
        "emails_reviewed": accuracy["reviewed"],
        "emails_corrected": accuracy["corrected"],
        "average_confidence": summary.average_confidence,
        "automation_rate": summary.automation_rate,
        "escalation_rate": summary.escalation_rate,
    }


def _changes(current: Summary, previous: Summary) -> dict[str, Any]:
    pairs = {
        "emails_processed": (current.processed, previous.processed),
        "success_rate": (current.success_rate, previous.success_rate),
        "average_processing_time": (current.average_processing_time, previous.average_processing_time),
        "automation_rate": (current.automation_rate, previous.automation_rate),
        "escalation_rate": (current.escalation_rate, previous.escalation_rate),
    }
    return {name: _change(now, before) for name, (now, before) in pairs.items()}


def _change(now: float | None, before: float | None) -> dict[str, Any]:
    relative = round((now - before) / before, 4) if now is not None and before else None
    return {"current": now, "previous": before, "change": relative}


def performance_goals(metrics: dict[str, Any], settings: Settings) -> dict[str, Any]:
    goals = {
        "classification_accuracy": (">=", ACCURACY_TARGET),
        "success_rate": (">=", settings.alert_min_success_rate),
        "average_processing_time": ("<=", settings.alert_max_processing_time),
        "automation_rate": (">=", AUTOMATION_TARGET),
        "escalation_rate": ("<=", ESCALATION_CEILING),
    }
    return {name: _goal(metrics[name], comparison, target) for name, (comparison, target) in goals.items()}


def _goal(actual: float | None, comparison: str, target: float) -> dict[str, Any]:
    met = None if actual is None else (actual >= target if comparison == ">=" else actual <= target)
    return {"target": target, "comparison": comparison, "actual": actual, "met": met}
