"""`emailbot maintenance daily|weekly|monthly`: the operations manual's maintenance scripts as one command each.

Every step is a small function registered by name; a schedule is a list of step names. Steps that belong to the
running service (metrics, pattern discovery, the analytics reports, the security events) are asked of it over
HTTP at EMAILBOT_PUBLIC_URL (or --url), exactly as the manual's scripts do; the others act on the database and the
files directly. Every step is run and reported (ok, failed or skipped, with its duration and a message), even after
one has failed; the command's exit code says whether all of them succeeded.

Not done here, on purpose: the manual's weekly `apt upgrade` and `docker-compose restart` are the host's business
(image rebuilds and the orchestrator's restart policy), not the application's.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import text

from emailbot.admin.backup import create_backup, prune_backups
from emailbot.admin.common import OpsError, sqlite_path
from emailbot.admin.config_backup import create_config_backup
from emailbot.admin.retention import apply_retention
from emailbot.admin.rotate import encryption_status
from emailbot.settings import Settings
from emailbot.store import crypto
from emailbot.store.db import Database, create_engine

Status = Literal["ok", "failed", "skipped"]
TEMP_MAX_AGE_SECONDS = 24 * 3600


class Skip(Exception):  # noqa: N818 - a step's way to say it does not apply here, not an error
    """The step does not apply to this installation; the message says why."""


@dataclass
class StepResult:
    name: str
    status: Status
    duration_seconds: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_seconds": round(self.duration_seconds, 3),
            "message": self.message,
            "details": self.details,
        }


@dataclass
class Context:
    settings: Settings
    base_url: str
    reports_dir: Path
    http_timeout: float = 60.0

    def client(self) -> httpx.AsyncClient:
        """A client for the running service, signed in with the key local tools use (the API needs one)."""
        from emailbot.auth.keys import local_key_header

        secret = self.settings.api_key.get_secret_value() if self.settings.api_key else None
        headers = local_key_header(secret, self.settings.data_dir)
        return httpx.AsyncClient(base_url=self.base_url, timeout=self.http_timeout, headers=headers)


Outcome = tuple[str, dict[str, Any]]
Step = Callable[[Context], Awaitable[Outcome]]
STEPS: dict[str, Step] = {}


def step(name: str) -> Callable[[Step], Step]:
    def register(function: Step) -> Step:
        STEPS[name] = function
        return function

    return register


SCHEDULES: dict[str, tuple[str, ...]] = {
    "daily": ("health_check", "temp_cleanup", "log_cleanup", "metrics_update", "retention"),
    "weekly": ("vacuum_analyze", "backup", "log_cleanup"),
    "monthly": (
        "backup",
        "config_backup",
        "performance_report",
        "pattern_analysis",
        "security_audit",
        "capacity_review",
    ),
}


async def run_schedule(
    context: Context, names: tuple[str, ...], report: Callable[[StepResult], None] = lambda _: None
) -> list[StepResult]:
    results = []
    for name in names:
        result = await run_step(context, name)
        report(result)
        results.append(result)
    return results


async def run_step(context: Context, name: str) -> StepResult:
    started = time.perf_counter()
    try:
        message, details = await STEPS[name](context)
        status: Status = "ok"
    except Skip as exc:
        status, message, details = "skipped", str(exc), {}
    except (OpsError, httpx.HTTPError, OSError) as exc:
        status, message, details = "failed", _describe(exc), {}
    except Exception as exc:  # noqa: BLE001 - one broken step must not hide the others' results
        status, message, details = "failed", f"{type(exc).__name__}: {exc}", {}
    return StepResult(name, status, time.perf_counter() - started, message, details)


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
        return f"the service is not reachable ({type(exc).__name__}: {exc})"
    return str(exc) or type(exc).__name__


async def _call(context: Context, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the running service; anything but 2xx is a failure that names the endpoint."""
    async with context.client() as client:
        response = await client.request(method, path, **kwargs)
    if response.status_code == 404:
        raise OpsError(f"{method} {path}: HTTP 404: the running service does not offer this endpoint")
    if response.status_code >= 400:
        raise OpsError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:1000]}


@step("health_check")
async def health_check(context: Context) -> Outcome:
    """The manual's daily health check: API, components, processing status, and the database directly."""
    async with context.client() as client:
        overall = await client.get("/health")
        detailed = (await client.get("/health/detailed")).json()
        status = (await client.get("/process/status")).json()
    components = {name: value.get("status") for name, value in detailed.get("components", {}).items()}
    db = Database(context.settings.database_url)
    try:
        async with db.sessions() as session:
            await session.execute(text("SELECT 1"))
    finally:
        await db.dispose()
    details = {"components": components, "process_status": status.get("status")}
    summary = (
        f"API {overall.json().get('status')}; processed today {status.get('emails_processed_today')}, "
        f"queue {status.get('current_queue_size')}; database reachable"
    )
    if overall.status_code != 200:
        raise OpsError(f"API unhealthy (HTTP {overall.status_code}): {components}")
    return summary, details


@step("temp_cleanup")
async def temp_cleanup(context: Context) -> Outcome:
    """EmailBot's own temporary folder (scratch files of backups and restores), files older than a day."""
    removed = _remove_older_than(context.settings.data_dir / "tmp", "*", TEMP_MAX_AGE_SECONDS)
    return f"removed {len(removed)} temporary files older than 1 day", {"removed": removed}


@step("log_cleanup")
async def log_cleanup(context: Context) -> Outcome:
    settings = context.settings
    if settings.log_dir is None:
        raise Skip("EMAILBOT_LOG_DIR is not set: logs go to standard output, which the container runtime rotates")
    removed = _remove_older_than(settings.log_dir, "*.log*", settings.log_retention_days * 86400)
    return f"removed {len(removed)} log files older than {settings.log_retention_days} days", {"removed": removed}


def _remove_older_than(folder: Path, pattern: str, seconds: float) -> list[str]:
    if not folder.is_dir():
        return []
    cutoff = time.time() - seconds
    removed = []
    for path in folder.rglob(pattern):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink()
            removed.append(str(path.relative_to(folder)))
    return removed


@step("metrics_update")
async def metrics_update(context: Context) -> Outcome:
    body = await _call(context, "POST", "/internal/metrics/update")
    return "metrics updated", {"response": body}


@step("pattern_analysis")
async def pattern_analysis(context: Context) -> Outcome:
    body = await _call(context, "POST", "/internal/patterns/analyze")
    return "pattern discovery ran", {"response": body}


@step("performance_report")
async def performance_report(context: Context) -> Outcome:
    body = await _call(context, "GET", "/analytics/performance", params={"period": "month"})
    path = _save_report(context, "performance", body)
    return f"performance report saved to {path}", {"path": str(path)}


@step("capacity_review")
async def capacity_review(context: Context) -> Outcome:
    body = await _call(context, "GET", "/analytics/capacity", params={"days": 30})
    path = _save_report(context, "capacity", body)
    recommendations = body.get("recommendations", []) if isinstance(body, dict) else []
    return f"capacity report saved to {path} ({len(recommendations)} recommendations)", {"path": str(path)}


def _save_report(context: Context, kind: str, body: Any) -> Path:
    context.reports_dir.mkdir(parents=True, exist_ok=True)
    path = context.reports_dir / f"{kind}_{datetime.now(UTC):%Y%m}.json"
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return path


@step("security_audit")
async def security_audit(context: Context) -> Outcome:
    """The service's security events, plus encryption at rest checked in the database directly."""
    body = await _call(context, "GET", "/security/events")
    events = body.get("events", body) if isinstance(body, dict) else body
    events = events if isinstance(events, list) else []
    critical = [event for event in events if str(event.get("severity", "")).upper() == "CRITICAL"]
    details: dict[str, Any] = {"events": len(events), "critical": critical}
    if context.settings.encryption_key is not None:
        db = Database(context.settings.database_url)
        try:
            status = await encryption_status(db)
        finally:
            await db.dispose()
        details["encryption"] = status
        if status["unencrypted"]:
            raise OpsError(
                f"{status['unencrypted']} of {status['emails']} emails are stored unencrypted: "
                "run `emailbot security rotate-key`"
            )
    if critical:
        raise OpsError(
            f"{len(critical)} critical security events: " + "; ".join(str(e.get("message")) for e in critical)
        )
    encryption = "on" if context.settings.encryption_key is not None else "off (EMAILBOT_ENCRYPTION_KEY not set)"
    return f"{len(events)} security events, none critical; encryption at rest {encryption}", details


@step("vacuum_analyze")
async def vacuum_analyze(context: Context) -> Outcome:
    settings = context.settings
    if settings.is_sqlite:
        database = sqlite3.connect(sqlite_path(settings.database_url), timeout=30, isolation_level=None)
        try:
            database.execute("VACUUM")
            database.execute("ANALYZE")
            database.execute("PRAGMA optimize")
        finally:
            database.close()
        return "VACUUM, ANALYZE and PRAGMA optimize done", {}
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return "VACUUM ANALYZE done", {}


@step("backup")
async def backup(context: Context) -> Outcome:
    settings = context.settings
    result = await create_backup(settings)
    removed = prune_backups(settings.backup_dir, settings.backup_retention_days, keep=result.path)
    details: dict[str, Any] = {"path": str(result.path), "removed": removed}
    if settings.backup_s3_bucket:
        from emailbot.admin.s3 import upload_backup

        details["uploaded_to"] = upload_backup(settings, result.path)
    return (
        f"backup written to {result.path}; {len(removed)} older than {settings.backup_retention_days} days removed",
        details,
    )


@step("config_backup")
async def config_backup(context: Context) -> Outcome:
    path = await create_config_backup(context.settings)
    return f"configuration backup written to {path}", {"path": str(path)}


@step("retention")
async def retention(context: Context) -> Outcome:
    settings = context.settings
    if settings.retention_days is None:
        raise Skip("EMAILBOT_RETENTION_DAYS is not set: emails are kept indefinitely")
    crypto.configure_from_secret(settings.encryption_key.get_secret_value() if settings.encryption_key else None)
    db = Database(settings.database_url)
    try:
        report = await apply_retention(
            db, days=settings.retention_days, mode=settings.retention_mode, batch_size=settings.retention_batch_size
        )
    finally:
        await db.dispose()
    verb = "deleted" if report.mode == "delete" else "anonymized"
    return f"{report.done} emails older than {settings.retention_days} days {verb}", report.as_dict()
