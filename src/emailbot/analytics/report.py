"""The monthly report: a JSON file for tools and a self-contained HTML page for people (charts drawn as inline SVG
on the server, no scripts, no CDN; every text from an email is escaped by the template engine).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot import __version__
from emailbot.analytics.daily import buckets_between
from emailbot.analytics.patterns import MIN_FREQUENCY, discover, load_window
from emailbot.analytics.performance import classification_accuracy, daily_series, summarize
from emailbot.ops.security import FAILED_AUTH
from emailbot.store.db import Database
from emailbot.store.tables import AlertRow, AuditLogRow, utcnow

TOP_PATTERNS = 10


def month_bounds(month: str | None) -> tuple[datetime, datetime]:
    """'2025-01' → its first instant and the next month's; None → the last complete month."""
    if month is None:
        today = utcnow().date()
        first = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    else:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return datetime(first.year, first.month, 1, tzinfo=UTC), datetime(following.year, following.month, 1, tzinfo=UTC)


async def monthly_report(db: Database, month: str | None = None) -> dict[str, Any]:
    start, end = month_bounds(month)
    async with db.transaction() as session:
        buckets = await buckets_between(session, start, end)
        accuracy = await classification_accuracy(session, start, end)
        alerts = await _alerts(session, start, end)
        failed_auth = await _failed_auth(session, start, end)
        emails, texts = await load_window(session, start, end)
    patterns = await asyncio.to_thread(discover, emails, texts, MIN_FREQUENCY)
    summary = summarize(buckets)
    return {
        "report": "monthly",
        "month": start.strftime("%Y-%m"),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "generated_at": utcnow().isoformat(),
        "version": __version__,
        "metrics": {
            "emails_received": summary.received,
            "emails_processed": summary.processed,
            "success_rate": summary.success_rate,
            "average_processing_time": summary.average_processing_time,
            "classification_accuracy": accuracy["accuracy"],
            "emails_reviewed": accuracy["reviewed"],
            "automation_rate": summary.automation_rate,
            "escalation_rate": summary.escalation_rate,
            "average_confidence": summary.average_confidence,
        },
        "daily": daily_series(buckets, start, end - timedelta(microseconds=1)),
        "category_distribution": summary.category_distribution,
        "confidence_distribution": summary.confidence_distribution,
        "top_patterns": [_jsonable(p) for p in sorted(patterns, key=lambda p: -p["automation_potential"])][
            :TOP_PATTERNS
        ],
        "alerts": alerts,
        "security": {"failed_authentication": failed_auth},
    }


def _jsonable(pattern: dict[str, Any]) -> dict[str, Any]:
    return {**pattern, "first_seen": pattern["first_seen"].isoformat(), "last_seen": pattern["last_seen"].isoformat()}


async def _alerts(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    rows = await session.execute(
        select(AlertRow.severity, AlertRow.component, func.count())
        .where(AlertRow.created_at >= start, AlertRow.created_at < end)
        .group_by(AlertRow.severity, AlertRow.component)
    )
    by_severity: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    for severity, component, count in rows:
        by_severity[severity.upper()] += count
        by_component[component] += count
    return {"total": sum(by_severity.values()), "by_severity": dict(by_severity), "by_component": dict(by_component)}


async def _failed_auth(session: AsyncSession, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(AuditLogRow.action == FAILED_AUTH, AuditLogRow.at >= start, AuditLogRow.at < end)
    return int(await session.scalar(query) or 0)


def render_html(report: dict[str, Any]) -> str:
    environment = Environment(
        loader=PackageLoader("emailbot.analytics", "templates"), autoescape=select_autoescape(default=True)
    )
    return environment.get_template("monthly.html.j2").render(report=report, charts=_charts(report))


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    """Bar geometry computed here; the template only places rectangles and escaped labels."""
    daily = report["daily"]
    peak = max([day["emails_received"] for day in daily] + [day["emails_processed"] for day in daily] + [1])
    categories = report["category_distribution"]
    confidence = report["confidence_distribution"]
    return {
        "daily": [
            {
                "date": day["date"],
                "received": 160 * day["emails_received"] / peak,
                "processed": 160 * day["emails_processed"] / peak,
                "received_count": day["emails_received"],
                "processed_count": day["emails_processed"],
            }
            for day in daily
        ],
        "categories": _bars(categories),
        "confidence": _bars(confidence),
    }


def _bars(counts: dict[str, int]) -> list[dict[str, Any]]:
    largest = max(list(counts.values()) + [1])
    return [{"label": label, "count": count, "width": 360 * count / largest} for label, count in counts.items()]


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"emailbot-report-{report['month']}"
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
