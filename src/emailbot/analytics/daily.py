"""Daily aggregates: materialized per day, category and action so analytics over weeks and months read a few
hundred rows instead of every processing result.

A window is answered from three sources stitched together: complete past days that were materialized come from
`daily_metrics`; the rest (the partial first day, today, days not materialized yet) from the raw tables. The two
give the same numbers for the same day, so a missing materialization only costs time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from emailbot.domain import Status
from emailbot.store.tables import DailyMetricRow, EmailRow, ProcessingResultRow, utcnow

COUNTS = (
    "received",
    "completed",
    "failed",
    "processing_ms_sum",
    "processing_count",
    "confidence_sum",
    "confidence_count",
    "confidence_below_40",
    "confidence_40_59",
    "confidence_60_84",
    "confidence_85_up",
)


@dataclass
class Bucket:
    """Counts for one day, category and action ("" when unknown)."""

    day: date
    category: str
    action: str
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, other: Bucket) -> None:
        for name in COUNTS:
            self.counts[name] += other.counts[name]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_of(session: AsyncSession, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


async def raw_buckets(session: AsyncSession, start: datetime, end: datetime) -> list[Bucket]:
    """Buckets computed from processing results and emails in [start, end)."""
    buckets: dict[tuple[date, str, str], Bucket] = {}
    for row in await _processed(session, start, end):
        bucket = Bucket(_as_date(row[0]), row[1] or "", row[2] or "")
        bucket.counts.update(zip(COUNTS[1:], (float(v or 0) for v in row[3:]), strict=True))
        _merge(buckets, bucket)
    for day, category, action, received in await _received(session, start, end):
        bucket = Bucket(_as_date(day), category or "", action or "")
        bucket.counts["received"] = received
        _merge(buckets, bucket)
    return list(buckets.values())


def _merge(buckets: dict[tuple[date, str, str], Bucket], bucket: Bucket) -> None:
    key = (bucket.day, bucket.category, bucket.action)
    if key in buckets:
        buckets[key].add(bucket)
    else:
        buckets[key] = bucket


async def _processed(session: AsyncSession, start: datetime, end: datetime) -> list[Any]:
    result = ProcessingResultRow
    day = day_of(session, result.completed_at)
    confidence = result.confidence
    query = (
        select(
            day,
            result.category,
            result.action,
            func.count(case((result.status == Status.COMPLETED.value, 1))),
            func.count(case((result.status == Status.FAILED.value, 1))),
            func.sum(result.processing_time_ms),
            func.count(result.processing_time_ms),
            func.sum(confidence),
            func.count(confidence),
            func.count(case((confidence < 40, 1))),
            func.count(case(((confidence >= 40) & (confidence < 60), 1))),
            func.count(case(((confidence >= 60) & (confidence < 85), 1))),
            func.count(case((confidence >= 85, 1))),
        )
        .where(result.completed_at >= start, result.completed_at < end)
        .where(result.status.in_((Status.COMPLETED.value, Status.FAILED.value)))
        .group_by(day, result.category, result.action)
    )
    return list(await session.execute(query))


async def _received(session: AsyncSession, start: datetime, end: datetime) -> list[Any]:
    """Arrivals per day, in the day's ("", "") bucket: volume is read per day only, and leaving out the join to
    the processing results makes this an index range scan (25 ms → 3 ms for a day of 2,700 emails).
    """
    day = day_of(session, EmailRow.received_datetime)
    query = (
        select(day, literal(""), literal(""), func.count())
        .where(EmailRow.received_datetime >= start, EmailRow.received_datetime < end)
        .group_by(day)
    )
    return list(await session.execute(query))


async def buckets_between(session: AsyncSession, start: datetime, end: datetime) -> list[Bucket]:
    """Every bucket of [start, end): materialized complete days plus raw counts for the rest."""
    full_days = _complete_days(start, end)
    stored = await _materialized(session, full_days)
    have = {bucket.day for bucket in stored}
    result = list(stored)
    for raw_start, raw_end in _gaps(start, end, have):
        result.extend(await raw_buckets(session, raw_start, raw_end))
    return result


def _complete_days(start: datetime, end: datetime) -> list[date]:
    """Days wholly inside [start, end) and before today (today is still changing)."""
    first = start.date() if start == midnight(start.date()) else start.date() + timedelta(days=1)
    last = min(end.date(), utcnow().date()) - timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _gaps(start: datetime, end: datetime, have: set[date]) -> Iterable[tuple[datetime, datetime]]:
    """The parts of [start, end) not covered by the materialized days, merged into as few ranges as possible."""
    cursor = start
    for day in sorted(have):
        if midnight(day) > cursor:
            yield cursor, midnight(day)
        cursor = max(cursor, midnight(day + timedelta(days=1)))
    if cursor < end:
        yield cursor, end


async def _materialized(session: AsyncSession, days: list[date]) -> list[Bucket]:
    if not days:
        return []
    rows = await session.scalars(select(DailyMetricRow).where(DailyMetricRow.day.between(days[0], days[-1])))
    return [Bucket(row.day, row.category, row.action, {name: getattr(row, name) for name in COUNTS}) for row in rows]


async def materialize(session: AsyncSession, *, days: int | None = None) -> dict[str, Any]:
    """Recompute the daily rows of complete days: the last `days`, or from the day before the newest materialized
    day (catching late completions), or everything when nothing is materialized yet. Today is never materialized.
    """
    yesterday = utcnow().date() - timedelta(days=1)
    first = await _first_day_to_update(session, days, yesterday)
    if first is None or first > yesterday:
        return {"days_updated": 0, "rows_written": 0, "from": None, "to": None}
    buckets = await raw_buckets(session, midnight(first), midnight(yesterday + timedelta(days=1)))
    await session.execute(delete(DailyMetricRow).where(DailyMetricRow.day.between(first, yesterday)))
    rows = _rows_with_day_markers(buckets, first, yesterday)
    await session.execute(insert(DailyMetricRow), rows)
    return {"days_updated": (yesterday - first).days + 1, "rows_written": len(rows), "from": first, "to": yesterday}


async def _first_day_to_update(session: AsyncSession, days: int | None, yesterday: date) -> date | None:
    if days is not None:
        return yesterday - timedelta(days=days - 1)
    newest = await session.scalar(select(func.max(DailyMetricRow.day)))
    if newest is not None:
        return _as_date(newest) - timedelta(days=1)
    oldest = await session.scalar(select(func.min(EmailRow.received_datetime)))
    return oldest.date() if oldest is not None else None


def _rows_with_day_markers(buckets: list[Bucket], first: date, last: date) -> list[dict[str, Any]]:
    """Every day gets at least its ("", "") row, so a quiet day reads as materialized, not missing."""
    keyed = {(b.day, b.category, b.action): b for b in buckets}
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        keyed.setdefault((day, "", ""), Bucket(day, "", ""))
    now = utcnow()
    return [
        {"day": b.day, "category": b.category, "action": b.action, "updated_at": now, **_ints(b.counts)}
        for b in keyed.values()
    ]


def _ints(counts: dict[str, float]) -> dict[str, float]:
    return {name: value if name.endswith("_sum") else int(value) for name, value in counts.items()}
