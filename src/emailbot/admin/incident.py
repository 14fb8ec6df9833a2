"""`emailbot incident collect`: the manual's evidence collection, as one .tar.gz an operator can hand over.

Inside: `incident.json` (when, type, severity, note), `settings.json` (secrets redacted), `system.json` (the
service's health and processing status if it answers, versions, schema revision, CPU, memory, disk, processes,
network connections), `alerts.json` (recent alerts), `audit.json` (recent audit log: changes and failed sign-ins),
`errors.json` (recent processing errors, with ids and error messages only: no email content), and `logs/` (recent
files from EMAILBOT_LOG_DIR, the newest part of each when large).
"""

from __future__ import annotations

import io
import json
import platform
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import MetaData, Table, inspect, select

from emailbot import __version__
from emailbot.admin.common import redacted_settings, timestamp
from emailbot.settings import Settings
from emailbot.store.db import create_engine

LOG_TAIL_BYTES = 5 * 1024 * 1024
ROW_LIMIT = 500
PACKAGES = ("fastapi", "sqlalchemy", "alembic", "httpx", "pydantic", "uvicorn", "asyncpg", "aiosqlite", "cryptography")


async def collect_incident(
    settings: Settings,
    *,
    output_dir: Path | None = None,
    kind: str = "unspecified",
    severity: str = "unspecified",
    note: str = "",
    hours: int = 24,
    base_url: str | None = None,
) -> Path:
    folder = output_dir or settings.data_dir / "incidents"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"incident-{timestamp()}.tar.gz"
    since = datetime.now(UTC) - timedelta(hours=hours)
    database = await _database_evidence(settings, since)
    documents: dict[str, Any] = {
        "incident.json": {
            "collected_at": datetime.now(UTC).isoformat(),
            "type": kind,
            "severity": severity,
            "note": note,
            "window_hours": hours,
        },
        "settings.json": redacted_settings(settings),
        "system.json": {
            "service": await _service_state(base_url or settings.base_url, settings),
            "versions": _versions(),
            "schema_revision": database.pop("schema_revision"),
            "host": _host_state(settings),
        },
        "alerts.json": database["alerts"],
        "audit.json": database["audit"],
        "errors.json": database["errors"],
    }
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for name, value in documents.items():
            _add_bytes(tar, name, json.dumps(value, indent=2, default=str).encode())
        for path in _recent_logs(settings.log_dir, since):
            _add_log(tar, settings.log_dir, path)  # type: ignore[arg-type]
    partial.replace(target)
    return target


async def _service_state(base_url: str, settings: Settings) -> dict[str, Any]:
    from emailbot.auth.keys import local_key_header

    state: dict[str, Any] = {"base_url": base_url}
    secret = settings.api_key.get_secret_value() if settings.api_key else None
    headers = local_key_header(secret, settings.data_dir)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as client:
            for name, path in (("health", "/health/detailed"), ("process_status", "/process/status")):
                response = await client.get(path)
                state[name] = {"http_status": response.status_code, "body": _json_or_text(response)}
    except httpx.HTTPError as exc:
        state["unreachable"] = f"{type(exc).__name__}: {exc}"
    return state


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _versions() -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"emailbot": __version__, "python": sys.version, "platform": platform.platform(), "packages": packages}


def _host_state(settings: Settings) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    state: dict[str, Any] = {
        "boot_time": datetime.fromtimestamp(psutil.boot_time(), UTC).isoformat(),
        "cpu_percent": psutil.cpu_percent(interval=0.2),
        "cpu_count": psutil.cpu_count(),
        "load_average": list(psutil.getloadavg()),
        "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent},
        "disk": {},
        "processes": _processes(),
    }
    for label, path in (("data_dir", settings.data_dir), ("backup_dir", settings.backup_dir)):
        if Path(path).exists():
            usage = psutil.disk_usage(str(path))
            state["disk"][label] = {
                "path": str(path),
                "total": usage.total,
                "free": usage.free,
                "percent": usage.percent,
            }
    try:
        state["connections"] = [
            {"laddr": f"{c.laddr.ip}:{c.laddr.port}" if c.laddr else None, "status": c.status, "pid": c.pid}
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
    except (psutil.AccessDenied, PermissionError):
        state["connections"] = "not permitted for this user"
    return state


def _processes() -> list[dict[str, Any]]:
    rows = []
    for process in psutil.process_iter(["pid", "username", "name", "cpu_percent", "memory_percent", "create_time"]):
        rows.append(process.info)
    return sorted(rows, key=lambda row: row.get("memory_percent") or 0, reverse=True)[:100]


async def _database_evidence(settings: Settings, since: datetime) -> dict[str, Any]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_evidence, since)
    except Exception as exc:  # noqa: BLE001 - a broken database is evidence too, not a reason to collect nothing
        error = f"database not readable: {type(exc).__name__}: {exc}"
        return {"schema_revision": None, **{part: {"error": error} for part in ("alerts", "audit", "errors")}}
    finally:
        await engine.dispose()


def _read_evidence(connection: Any, since: datetime) -> dict[str, Any]:
    tables = set(inspect(connection).get_table_names())
    metadata_ = MetaData()
    evidence: dict[str, Any] = {"schema_revision": None}
    if "alembic_version" in tables:
        version = Table("alembic_version", metadata_, autoload_with=connection)
        evidence["schema_revision"] = connection.execute(select(version.c.version_num)).scalar()
    # An older schema (a restored backup not yet migrated) may lack a table: what exists is still evidence.
    for part, table in (("alerts", "alerts"), ("audit", "audit_log")):
        evidence[part] = {"rows": _recent_rows(connection, metadata_, table, since) if table in tables else []}
    evidence["errors"] = {
        "rows": _processing_errors(connection, metadata_, since) if "processing_results" in tables else []
    }
    return evidence


def _recent_rows(connection: Any, metadata_: MetaData, name: str, since: datetime) -> list[dict[str, Any]]:
    table = Table(name, metadata_, autoload_with=connection)
    moment = next((table.c[c] for c in ("created_at", "at", "raised_at") if c in table.c), None)
    query = select(table).limit(ROW_LIMIT)
    if moment is not None:
        query = query.where(moment >= since).order_by(moment.desc())
    return [dict(row._mapping) for row in connection.execute(query)]


def _processing_errors(connection: Any, metadata_: MetaData, since: datetime) -> list[dict[str, Any]]:
    table = Table("processing_results", metadata_, autoload_with=connection)
    columns = [
        table.c[c]
        for c in ("email_id", "status", "action", "category", "attempts", "error", "created_at", "completed_at")
    ]
    query = (
        select(*columns)
        .where(table.c.error.is_not(None), table.c.created_at >= since)
        .order_by(table.c.created_at.desc())
        .limit(ROW_LIMIT)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def _recent_logs(log_dir: Path | None, since: datetime) -> list[Path]:
    if log_dir is None or not log_dir.is_dir():
        return []
    return sorted(
        path
        for path in log_dir.rglob("*")
        if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) >= since
    )


def _add_log(tar: tarfile.TarFile, log_dir: Path, path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - LOG_TAIL_BYTES))
        data = handle.read()
    _add_bytes(tar, f"logs/{path.relative_to(log_dir)}", data)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
