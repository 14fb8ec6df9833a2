"""Operations timings: ingest with and without encryption at rest, backup, verify, restore, key rotation, retention.

    uv run python -m bench.operations --emails 5000                  # SQLite and PostgreSQL
    uv run python -m bench.operations --emails 5000 --backend sqlite

Emails come from the pipeline benchmark's corpus (parsed with the real parser) and are stored with the real ingest
query; nothing is classified (that is the pipeline benchmark's business). Each backend gets a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bench.corpus import write_mailbox
from bench.databases import BACKENDS, fresh_database
from emailbot.admin.backup import create_backup, open_backup, verify_backup
from emailbot.admin.restore import restore_backup
from emailbot.admin.retention import apply_retention
from emailbot.admin.rotate import rotate_key
from emailbot.domain import RawMessage
from emailbot.pipeline.parse import parse_email
from emailbot.settings import load_settings
from emailbot.store import crypto, work
from emailbot.store.db import Database


def _messages(folder: Path, count: int) -> list[RawMessage]:
    write_mailbox(folder, count)
    return [RawMessage(source_id=path.name, raw=path.read_bytes()) for path in sorted((folder / "new").iterdir())]


async def _ingest(url: str, messages: list[RawMessage], batch: int = 200) -> None:
    db = Database(url)
    try:
        for start in range(0, len(messages), batch):
            chunk = messages[start : start + batch]
            async with db.transaction() as session:
                await work.ingest(session, "bench", [(m, parse_email(m)) for m in chunk])
    finally:
        await db.dispose()


def _timed(what: Callable[[], Awaitable[Any]]) -> float:
    """Wall time of one step, in an event loop of its own (migrations run their own loop, outside any other)."""
    started = time.perf_counter()
    asyncio.run(what())  # type: ignore[arg-type]
    return time.perf_counter() - started


def run(backend: str, messages: list[RawMessage], folder: Path) -> dict[str, float]:
    key = Fernet.generate_key().decode()
    timings: dict[str, float] = {}
    with fresh_database(backend, folder, f"{backend}-plain") as url:
        crypto.configure(None)
        timings["ingest, plaintext"] = _timed(lambda: _ingest(url, messages))
    with fresh_database(backend, folder, f"{backend}-enc") as url:
        settings = load_settings(database_url=url, data_dir=folder / "var", backup_dir=folder / f"backups-{backend}")
        crypto.configure_from_secret(key)
        timings["ingest, encrypted"] = _timed(lambda: _ingest(url, messages))
        backup: list[Any] = []
        timings["backup"] = _timed(lambda: _collect(backup, create_backup(settings)))
        timings["verify (scratch restore + compare)"] = _timed(
            lambda: verify_backup(settings, open_backup(backup[0].path))
        )
        timings["restore (incl. migrate)"] = _timed(lambda: restore_backup(settings, backup[0].path, settle_seconds=0))
        crypto.configure_from_secret(f"{Fernet.generate_key().decode()},{key}")
        timings["rotate-key (every email)"] = _timed(lambda: _with_db(url, lambda db: rotate_key(db, batch_size=200)))
        timings["retention anonymize (every email)"] = _timed(
            lambda: _with_db(url, lambda db: apply_retention(db, days=1, mode="anonymize", now=_far_future()))
        )
        timings["backup size MB"] = backup[0].path.stat().st_size / 1e6
    crypto.configure(None)
    return timings


async def _with_db(url: str, step: Callable[[Database], Awaitable[Any]]) -> None:
    db = Database(url)
    try:
        await step(db)
    finally:
        await db.dispose()


async def _collect(into: list[Any], awaitable: Awaitable[Any]) -> None:
    into.append(await awaitable)


def _far_future() -> datetime:
    return datetime(2100, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    args = parser.parse_args()
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="emailbot-ops-bench-") as tmp:
        folder = Path(tmp)
        messages = _messages(folder / "mail", args.emails)
        results = {backend: run(backend, messages, folder) for backend in backends}
    rows = list(next(iter(results.values())))
    print(f"\n{args.emails} emails\n")
    print("| step | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    for row in rows:
        unit = "" if row.endswith("MB") else " s"
        print(f"| {row} | " + " | ".join(f"{results[b][row]:.2f}{unit}" for b in backends) + " |")


if __name__ == "__main__":
    main()
