"""Analytics endpoints against a large history: N emails (default 1,000,000) over a year in a fresh PostgreSQL
database, generated in SQL with generate_series (not through the pipeline: this measures the reads, not the
writes), then each endpoint of the operations manual timed through the real application in process.

    uv run python -m bench.analytics --emails 1000000 --repeat 9

Prints a Markdown table and writes the full results as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.databases import fresh_database, postgres_version
from emailbot.api.app import create_app
from emailbot.auth.keys import Role, create_key
from emailbot.runtime import build_runtime
from emailbot.settings import load_settings
from emailbot.store.db import Database

RESULTS = Path(__file__).with_name("results")
DAYS = 365

# Each statement is one INSERT ... SELECT over generate_series; :n is the number of emails.
GENERATE = [
    """
    INSERT INTO emails (id, mailbox, source_id, message_id, sender, sender_name, subject, received_datetime,
        body_text, clean_text, raw, "references", reply_to, recipients, attachments, loop_signals, importance,
        created_at)
    SELECT g, 'local', 'bench-' || g, '<bench-' || g || '@example.test>',
        'user' || (g % 5000) || '@customer' || (g % 40) || '.example', '',
        (ARRAY['Printer jammed on floor ', 'VPN drops every ', 'Invoice ', 'Password reset for ',
               'Quote for laptops ', 'Outlook crashes at start ', 'New starter account ', 'Server down in rack ']
        )[1 + g % 8] || (g % 997),
        now() - make_interval(secs => (:n - g) * (:days * 86400.0 / :n)),
        'Body of email ' || g, 'body of email ' || g, '\\x'::bytea,
        '[]', '[]', '{}', '[]', '{}', 'normal',
        now() - make_interval(secs => (:n - g) * (:days * 86400.0 / :n))
    FROM generate_series(1, :n) AS g
    """,
    """
    INSERT INTO processing_results (id, email_id, status, action, category, confidence, response_sent, attempts,
        next_attempt_at, processing_time_ms, created_at, started_at, completed_at)
    SELECT e.id, e.id,
        CASE WHEN e.id > :n - 200 THEN 'received' WHEN e.id % 50 = 0 THEN 'failed' ELSE 'completed' END,
        CASE WHEN e.id > :n - 200 THEN NULL
             WHEN (30 + (e.id * 7919) % 70) >= 85 THEN 'AUTO_HANDLE'
             WHEN (30 + (e.id * 7919) % 70) >= 60 THEN 'SUGGEST_RESPONSE'
             WHEN (30 + (e.id * 7919) % 70) >= 40 THEN 'HUMAN_REVIEW' ELSE 'ESCALATE' END,
        CASE WHEN e.id > :n - 200 THEN NULL
             ELSE (ARRAY['SUPPORT', 'PURCHASING', 'INFORMATION', 'ESCALATION', 'CONSULTATION'])[1 + e.id % 5] END,
        CASE WHEN e.id > :n - 200 THEN NULL ELSE 30 + (e.id * 7919) % 70 END,
        false, 1, e.received_datetime,
        CASE WHEN e.id > :n - 200 THEN NULL ELSE 200 + (e.id * 31) % 3000 END,
        e.received_datetime, e.received_datetime,
        CASE WHEN e.id > :n - 200 THEN NULL ELSE e.received_datetime + interval '2 seconds' END
    FROM emails e
    """,
    """
    INSERT INTO feedback (email_id, kind, actor, created_at)
    SELECT id, CASE WHEN id % 7 = 0 THEN 'category_corrected' ELSE 'draft_approved' END, 'operator',
        received_datetime + interval '1 hour'
    FROM emails WHERE id % 50 = 1 AND id <= :n - 200
    """,
    """
    INSERT INTO audit_log (at, actor, action, target, details)
    SELECT now() - make_interval(secs => g * 26.0), 'eb_live_' || (g % 20),
        CASE WHEN g % 97 = 0 THEN 'auth.failed' ELSE 'api.request' END, '/emails',
        json_build_object('client', '10.0.' || (g % 50) || '.' || (g % 7), 'path', '/emails', 'status', 200)
    FROM generate_series(1, 100000) AS g
    """,
    """
    INSERT INTO system_metrics (at, healthy, cpu_percent, memory_percent, disk_percent, disk_free_bytes,
        storage_bytes, queue_size, api_requests, api_errors, api_response_ms_sum)
    SELECT now() - make_interval(secs => g * 60), g % 1000 <> 0, 20 + (g % 40), 50 + (g % 20), 40,
        200000000000 - (43200 - g) * 10000, 5000000000 + (43200 - g) * 20000, g % 30, 12, (g % 100 = 0)::int, 12 * 8.5
    FROM generate_series(1, 43200) AS g
    """,
    """
    INSERT INTO alerts (key, severity, component, message, details, status, occurrences, delivery_status,
        created_at, last_seen_at)
    SELECT 'Resources:cpu' || (g % 50), (ARRAY['info', 'warning', 'critical'])[1 + g % 3], 'Resources',
        'High CPU usage', '{}', 'open', 1, 'delivered',
        now() - make_interval(secs => g * 600), now() - make_interval(secs => g * 600)
    FROM generate_series(1, 5000) AS g
    """,
]
FIX_SEQUENCES = [
    "SELECT setval(pg_get_serial_sequence('emails', 'id'), (SELECT max(id) FROM emails))",
    "SELECT setval(pg_get_serial_sequence('processing_results', 'id'), (SELECT max(id) FROM processing_results))",
]

ENDPOINTS = [
    ("GET", "/analytics/kpis?hours=24"),
    ("GET", "/analytics/kpis?hours=168"),
    ("GET", "/analytics/performance?period=day"),
    ("GET", "/analytics/performance?period=week"),
    ("GET", "/analytics/performance?period=month"),
    ("GET", "/analytics/patterns?days=30"),
    ("GET", "/analytics/capacity?days=30"),
    ("GET", "/security/events"),
    ("GET", "/alerts?page_size=50"),
    ("GET", "/metrics"),
    ("GET", "/process/status"),
]


@dataclass
class Options:
    emails: int = 1_000_000
    repeat: int = 9
    out_dir: Path = RESULTS
    reuse: str | None = None  # time against this already generated database instead of a fresh one
    rows: list[dict[str, Any]] = field(default_factory=list)


async def generate(url: str, emails: int) -> dict[str, float]:
    """Fill the database; returns seconds per step."""
    db = Database(url)
    timings: dict[str, float] = {}
    try:
        for statement in GENERATE + FIX_SEQUENCES:
            started = time.perf_counter()
            async with db.transaction() as session:
                sql = statement.replace(":days", str(DAYS)).replace(":n", str(emails))
                await session.execute(text(sql))
            table = statement.split("INTO", 1)[1].split()[0] if "INTO" in statement else "sequences"
            timings[table] = round(time.perf_counter() - started, 2)
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            started = time.perf_counter()
            await autocommit.execute(text("VACUUM ANALYZE"))
            # Write the generated gigabyte out now, not in a checkpoint in the middle of the timings.
            await autocommit.execute(text("CHECKPOINT"))
            timings["vacuum_analyze_checkpoint"] = round(time.perf_counter() - started, 2)
    finally:
        await db.dispose()
    return timings


async def time_endpoints(url: str, repeat: int, workdir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    settings = load_settings(
        database_url=url,
        local_mailbox_dir=workdir / "mailbox",
        model_dir=workdir / "models",
        data_dir=workdir / "var",
    )
    runtime = build_runtime(settings)
    app = create_app(runtime, run_engine=False)
    rows: list[dict[str, Any]] = []
    maintenance: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with runtime.db.transaction() as session:  # the API wants a key, as an operator's script sends one
        headers = {"X-API-Key": await create_key(session, "analytics bench", Role.ADMIN, created_by="bench")}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600, headers=headers
        ) as client:
            rows += [
                await _time(client, method, path, repeat, "raw (nothing materialized)")
                for method, path in ENDPOINTS
                if "performance" in path or "kpis" in path or "capacity" in path
            ]
            for path in ("/internal/metrics/update", "/internal/patterns/analyze"):
                started = time.perf_counter()
                response = await client.post(path)
                maintenance[path] = {"seconds": round(time.perf_counter() - started, 2), "answer": response.json()}
            rows += [await _time(client, method, path, repeat, "materialized") for method, path in ENDPOINTS]
    finally:
        await runtime.close()
    return rows, maintenance


async def _time(client: httpx.AsyncClient, method: str, path: str, repeat: int, state: str) -> dict[str, Any]:
    started = time.perf_counter()
    await client.request(method, path)  # the first call pays for connections, statement preparation, caches
    first = (time.perf_counter() - started) * 1000
    samples, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = await client.request(method, path)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
    return {
        "endpoint": f"{method} {path}",
        "state": state,
        "first_ms": round(first, 1),
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "python_cpu_ms": round(statistics.median(cpu), 1),
        "runs": len(samples),
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| endpoint | daily metrics | first call (ms) | median (ms) | max (ms) | EmailBot CPU, median (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{r['endpoint']}` | {r['state']} | {r['first_ms']:,} | {r['median_ms']:,} | {r['max_ms']:,} "
        f"| {r['python_cpu_ms']:,} |"
        for r in rows
    ]
    return "\n".join(lines)


def run_benchmark(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        if options.reuse:
            generation: dict[str, float] = {}
            rows, maintenance = asyncio.run(time_endpoints(options.reuse, options.repeat, Path(folder)))
        else:
            with fresh_database("postgresql", Path(folder), "analytics") as url:
                generation = asyncio.run(generate(url, options.emails))
                rows, maintenance = asyncio.run(time_endpoints(url, options.repeat, Path(folder)))
    document = {
        "benchmark": "analytics",
        "emails": options.emails,
        "days": DAYS,
        "repeat": options.repeat,
        "generation_seconds": generation,
        "maintenance": maintenance,
        "rows": rows,
        "machine": {"python": platform.python_version(), "postgresql": postgres_version(), "cpu": platform.machine()},
        "load_average_after": os.getloadavg(),
        "commit": _commit(),
        "at": datetime.now(UTC).isoformat(),
    }
    options.out_dir.mkdir(parents=True, exist_ok=True)
    out = options.out_dir / f"analytics-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(document, indent=2, default=str))
    return document


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reuse", help="async URL of a database generated before (generation is skipped)")
    args = parser.parse_args()
    document = run_benchmark(Options(emails=args.emails, repeat=args.repeat, out_dir=args.out, reuse=args.reuse))
    print(f"{document['emails']:,} emails over {DAYS} days; generation (s): {document['generation_seconds']}")
    for path, result in document["maintenance"].items():
        print(f"POST {path}: {result['seconds']} s")
    print(markdown_table(document["rows"]))
    print(f"load average at the end: {document['load_average_after']}")


if __name__ == "__main__":
    main()
