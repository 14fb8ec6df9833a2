"""The measured code: one scenario per process, started as `python -m bench.child SPEC.json RESULT.json`.

Why one process per scenario: peak RSS (`ru_maxrss`) is a high-water mark of the whole process, so a scenario
only has its own peak when nothing else ran in that process first; and pinning to one core must not constrain
the orchestrator, which generates the mailbox and trains the model beforehand.

Two scenarios:
- `pipeline`: the real service path. `build_runtime(settings)` then `engine.start()` (what `./dev run` does),
  until every email is final; or, with mode `oneshot`, `engine.poll_once()` + `engine.drain()` (what
  `./dev process` does). Everything counts: Maildir reads and renames, parsing, the state machine's database
  writes, classification, routing, reply/draft files (fsynced), INFO logging.
- `baseline`: the same files, `parse_email`, `LocalClassifier.classify_batch` and a bulk insert of the email and
  classification rows with SQLAlchemy Core executemany, in batches of the engine's batch size. No engine, no
  state machine, no routing, no side effects: the floor under what the pipeline can cost.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from emailbot.classifiers.local import LocalClassifier
from emailbot.domain import RawMessage
from emailbot.pipeline.parse import parse_email
from emailbot.runtime import Runtime, build_runtime
from emailbot.settings import load_settings
from emailbot.store.convert import classification_row, email_row
from emailbot.store.db import create_engine
from emailbot.store.tables import ClassificationRow, EmailRow, ProcessingResultRow, SideEffectRow
from emailbot.store.work import FINAL

WAIT_STEP_SECONDS = 0.2
STALL_SECONDS = 60.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class Spec:
    """What the orchestrator asks a scenario process to do (written as JSON, read back here)."""

    scenario: str  # pipeline | baseline
    backend: str  # sqlite | postgresql
    database_url: str
    mailbox_dir: str
    model_dir: str
    data_dir: str
    expected: int
    batch_size: int = 50
    mode: str = "service"  # service | oneshot (pipeline only)
    pin_core: int | None = 0
    profile_path: str | None = None
    timeout_seconds: float = 3600.0


@dataclass
class Result:
    """One scenario's measurements; times in seconds unless the name says otherwise."""

    scenario: str
    backend: str
    mode: str
    emails: int
    elapsed_s: float
    emails_per_s: float
    peak_rss_mb: float
    cpu_s: float
    cpu_busy: float  # cpu_s / elapsed_s: near 1.0 means the pinned core was the limit
    pinned_to: list[int]
    latency_e2e_ms: dict[str, float] = field(default_factory=dict)
    latency_in_worker_ms: dict[str, float] = field(default_factory=dict)
    stages_s: dict[str, float] = field(default_factory=dict)  # baseline: wall time per stage
    timeline_s: dict[str, float] = field(default_factory=dict)  # pipeline: when ingest ended, first email done
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


# --- process set-up ---------------------------------------------------------------------------------------------


def log_to_file(path: Path) -> None:
    """INFO logging as the service configures it, but into a file: its cost is real, the terminal's is not."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, filename=path, force=True)


def peak_rss_mb() -> float:
    """ru_maxrss is in KiB on Linux (bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {
        "p50": round(cuts[49], 1),
        "p95": round(cuts[94], 1),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


# --- the pipeline -----------------------------------------------------------------------------------------------


async def run_pipeline(spec: Spec) -> Result:
    settings = load_settings(
        database_url=spec.database_url,
        local_mailbox_dir=Path(spec.mailbox_dir),
        model_dir=Path(spec.model_dir),
        data_dir=Path(spec.data_dir),
        batch_size=spec.batch_size,
    )
    runtime = build_runtime(settings)  # loads the pre-trained model: not part of per-email throughput
    try:
        started_at, cpu_before = datetime.now(UTC), cpu_seconds()
        await _drive(runtime, spec)
        cpu = cpu_seconds() - cpu_before
        rss = peak_rss_mb()
        await runtime.engine.stop()
        finished_at = await _last_completion(runtime) or datetime.now(UTC)
        elapsed = (finished_at - started_at).total_seconds()
        result = Result(
            scenario="pipeline",
            backend=spec.backend,
            mode=spec.mode,
            emails=spec.expected,
            elapsed_s=round(elapsed, 3),
            emails_per_s=round(spec.expected / elapsed, 1),
            peak_rss_mb=round(rss, 1),
            cpu_s=round(cpu, 2),
            cpu_busy=round(cpu / elapsed, 2),
            pinned_to=sorted(os.sched_getaffinity(0)),
            settings={
                "worker_concurrency": settings.worker_concurrency,
                "batch_size": settings.batch_size,
                "poll_interval_seconds": settings.poll_interval_seconds,
                "classifier_model": runtime.classifier.version if hasattr(runtime.classifier, "version") else "",
            },
        )
        await _describe_outcome(runtime, spec, result, started_at)
        result.error = runtime.engine.last_error
        return result
    finally:
        await runtime.close()


async def _drive(runtime: Runtime, spec: Spec) -> None:
    """Service mode runs the engine as `./dev run` does; oneshot ingests everything, then drains (`./dev process`)."""
    if spec.mode == "oneshot":
        await runtime.engine.poll_once()
        await runtime.engine.drain()
        return
    runtime.engine.start()
    await asyncio.wait_for(_until_all_final(runtime, spec.expected), spec.timeout_seconds)


async def _until_all_final(runtime: Runtime, expected: int) -> None:
    """Every file has become an email and every email is completed or failed (a cheap count every 0.2 s).

    The engine retries failures for ever (it must outlive them), so a broken run would wait until the timeout;
    instead, no progress for STALL_SECONDS stops the scenario with the engine's last error.
    """
    last_final, last_progress = -1, time.monotonic()
    while True:
        async with runtime.db.transaction() as session:
            final = await session.scalar(
                select(func.count()).select_from(ProcessingResultRow).where(ProcessingResultRow.status.in_(FINAL))
            )
        final = final or 0
        if final >= expected:
            return
        if final != last_final:
            last_final, last_progress = final, time.monotonic()
        elif time.monotonic() - last_progress > STALL_SECONDS:
            raise RuntimeError(
                f"no progress for {STALL_SECONDS:.0f} s at {final}/{expected} final emails; "
                f"engine's last error: {runtime.engine.last_error}"
            )
        await asyncio.sleep(WAIT_STEP_SECONDS)


async def _last_completion(runtime: Runtime) -> datetime | None:
    async with runtime.db.transaction() as session:
        last: datetime | None = await session.scalar(select(func.max(ProcessingResultRow.completed_at)))
        return last


async def _describe_outcome(runtime: Runtime, spec: Spec, result: Result, started_at: datetime) -> None:
    """Latencies, timeline and counts, read back from the database and the Maildir after the timed part."""
    table = ProcessingResultRow
    async with runtime.db.transaction() as session:
        rows = (
            await session.execute(
                select(table.status, table.action, table.created_at, table.completed_at, table.processing_time_ms)
            )
        ).all()
        effects = (
            await session.execute(
                select(SideEffectRow.kind, SideEffectRow.status, func.count()).group_by(
                    SideEffectRow.kind, SideEffectRow.status
                )
            )
        ).all()
    processed = [row for row in rows if row.processing_time_ms is not None]  # duplicates never reach a worker
    result.latency_e2e_ms = percentiles(
        [(row.completed_at - row.created_at).total_seconds() * 1000 for row in processed if row.completed_at]
    )
    result.latency_in_worker_ms = percentiles([float(row.processing_time_ms) for row in processed])
    result.timeline_s = _timeline(rows, processed, started_at)
    result.counts = {
        "status": _tally(row.status for row in rows),
        "action": _tally(row.action or "none" for row in rows),
        "side_effects": {f"{kind}:{status}": int(count) for kind, status, count in effects},
        "maildir": _maildir_counts(Path(spec.mailbox_dir)),
        "processing_rows": {"total": len(rows), "processed_by_worker": len(processed)},
    }


def _timeline(rows: Sequence[Any], processed: Sequence[Any], started_at: datetime) -> dict[str, float]:
    """When the last email was ingested and the first was done: how far ingest ran ahead of processing.

    End-to-end latency is mostly queueing when ingest runs far ahead, so it depends on this, not on per-email cost.
    """
    if not rows:
        return {}
    last_ingest = max(row.created_at for row in rows)
    done = [row.completed_at for row in processed if row.completed_at]
    timeline = {"all_ingested": round((last_ingest - started_at).total_seconds(), 2)}
    if done:
        timeline["first_completed"] = round((min(done) - started_at).total_seconds(), 2)
    return timeline


def _tally(values: Iterator[str] | Any) -> dict[str, int]:
    tally: dict[str, int] = {}
    for value in values:
        tally[str(value)] = tally.get(str(value), 0) + 1
    return dict(sorted(tally.items()))


def _maildir_counts(root: Path) -> dict[str, int]:
    folders = {
        "new": root / "new",
        "cur": root / "cur",
        "sent": root / ".Sent" / "cur",
        "drafts": root / ".Drafts" / "cur",
    }
    return {name: sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0 for name, folder in folders.items()}


# --- the baseline -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    mtime: float


async def run_baseline(spec: Spec) -> Result:
    classifier = LocalClassifier.from_settings(Path(spec.model_dir))  # loads the pre-trained model (not timed)
    engine = create_engine(spec.database_url)  # EmailBot's engine factory: same SQLite pragmas as the pipeline
    try:
        stages = dict.fromkeys(("read", "parse", "classify", "insert"), 0.0)
        started, cpu_before = time.perf_counter(), cpu_seconds()
        files = _listing(Path(spec.mailbox_dir) / "new")
        stored = 0
        for chunk in _chunks(files, spec.batch_size):
            stored += await _baseline_batch(engine, classifier, chunk, stages)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_before
        rss = peak_rss_mb()
        counts = await _baseline_counts(engine)
    finally:
        await engine.dispose()
    return Result(
        scenario="baseline",
        backend=spec.backend,
        mode="bare",
        emails=stored,
        elapsed_s=round(elapsed, 3),
        emails_per_s=round(stored / elapsed, 1),
        peak_rss_mb=round(rss, 1),
        cpu_s=round(cpu, 2),
        cpu_busy=round(cpu / elapsed, 2),
        pinned_to=sorted(os.sched_getaffinity(0)),
        stages_s={name: round(seconds, 3) for name, seconds in stages.items()},
        counts={"rows": counts},
        settings={"batch_size": spec.batch_size, "classifier_model": classifier.version},
    )


def _listing(folder: Path) -> list[_File]:
    """The Maildir's fetch order: oldest mtime first, then name."""
    entries = [_File(Path(entry.path), entry.stat().st_mtime) for entry in os.scandir(folder) if entry.is_file()]
    return sorted(entries, key=lambda entry: (entry.mtime, entry.path.name))


def _chunks(items: Sequence[_File], size: int) -> Iterator[Sequence[_File]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _baseline_batch(
    engine: AsyncEngine, classifier: LocalClassifier, chunk: Sequence[_File], stages: dict[str, float]
) -> int:
    """Read, parse, classify and insert one batch, adding each stage's wall time to `stages`."""
    mark = time.perf_counter()
    messages = [
        RawMessage(item.path.name, item.path.read_bytes(), datetime.fromtimestamp(item.mtime, UTC)) for item in chunk
    ]
    mark = _lap(stages, "read", mark)
    emails = [parse_email(message) for message in messages]
    mark = _lap(stages, "parse", mark)
    classifications = classifier.classify_batch(emails)
    mark = _lap(stages, "classify", mark)
    emails_table = cast(Table, EmailRow.__table__)
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(emails_table).returning(emails_table.c.id, sort_by_parameter_order=True),
            [email_row("local", message, email) for message, email in zip(messages, emails, strict=True)],
        )
        ids = list(inserted.scalars())
        await connection.execute(
            insert(cast(Table, ClassificationRow.__table__)),
            [classification_row(email_id, c) for email_id, c in zip(ids, classifications, strict=True)],
        )
    _lap(stages, "insert", mark)
    return len(ids)


def _lap(stages: dict[str, float], name: str, mark: float) -> float:
    now = time.perf_counter()
    stages[name] += now - mark
    return now


async def _baseline_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        emails = await connection.scalar(select(func.count()).select_from(EmailRow))
        classifications = await connection.scalar(select(func.count()).select_from(ClassificationRow))
    return {"emails": int(emails or 0), "classifications": int(classifications or 0)}


# --- entry point ------------------------------------------------------------------------------------------------


def run(spec: Spec) -> Result:
    scenario = run_pipeline if spec.scenario == "pipeline" else run_baseline
    if spec.profile_path is None:
        return asyncio.run(scenario(spec))
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(asyncio.run, scenario(spec))
    finally:
        profiler.dump_stats(spec.profile_path)


def run_from_files(spec_path: Path, result_path: Path) -> None:
    spec = Spec(**json.loads(spec_path.read_text()))
    log_to_file(Path(spec.data_dir) / f"{spec.scenario}-{spec.backend}.log")
    result_path.write_text(json.dumps(asdict(run(spec)), indent=2))
