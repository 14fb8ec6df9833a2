"""Earned autonomy: what one recomputation of the per-category table costs (reviews, coverage, overrides), the work
the processor's gate does at most every 5 seconds per process and `GET /autonomy` does per call.

    uv run python -m bench.autonomy --reviews 1000 10000 50000 --backend all

Each size gets a fresh migrated database with that many reviewed emails (one classification and one or two
feedback rows each, 10% corrected, 3% rejected) plus as many unreviewed emails; the table is computed `--repeat`
times after one warm-up and the median and worst are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from bench.databases import BACKENDS, fresh_database
from emailbot.autonomy.policy import Target
from emailbot.autonomy.service import table
from emailbot.domain import Email, RawMessage
from emailbot.store.convert import email_row
from emailbot.store.db import Database
from emailbot.store.tables import ClassificationRow, EmailRow, FeedbackRow, utcnow
from emailbot.taxonomy import load_taxonomy

CHUNK = 1000


async def _fill(db: Database, reviewed: int, categories: tuple[str, ...], seed: int) -> None:
    rng = random.Random(seed)
    now = utcnow()
    for start in range(0, 2 * reviewed, CHUNK):
        ids = range(start, min(start + CHUNK, 2 * reviewed))
        emails = [email_row("local", RawMessage(f"s{n}", b"x"), _email(n, now)) for n in ids]
        async with db.transaction() as session:
            await session.execute(insert(EmailRow), emails)
            rows = (
                await session.execute(
                    select(EmailRow.id, EmailRow.source_id).where(
                        EmailRow.source_id.in_([e["source_id"] for e in emails])
                    )
                )
            ).all()
            classes, feedback = [], []
            for email_id, source_id in rows:
                category = rng.choice(categories)
                classes.append(_classification(email_id, category, rng.uniform(40, 100), now))
                if int(source_id[1:]) < reviewed:
                    feedback += _feedback(email_id, category, rng, now)
            await session.execute(insert(ClassificationRow), classes)
            if feedback:
                await session.execute(insert(FeedbackRow), feedback)


def _email(n: int, now: datetime) -> Email:
    text = f"Mail number {n}: the printer is jammed."
    return Email(f"s{n}", f"mail {n}", None, now, text, text, message_id=f"<{n}@bench.example>")


def _classification(email_id: int, category: str, confidence: float, now: object) -> dict[str, object]:
    return {
        "email_id": email_id,
        "category": category,
        "confidence": confidence,
        "urgency": "MEDIUM",
        "classifier": "local",
        "model": "bench",
        "created_at": now,
        "required_expertise": [],
    }


def _feedback(email_id: int, category: str, rng: random.Random, now: object) -> list[dict[str, object]]:
    draw = rng.random()
    kind, corrected = ("draft_approved", None)
    if draw < 0.10:
        kind, corrected = "category_corrected", "OTHER"
    elif draw < 0.13:
        kind = "draft_rejected"
    rows = [
        {
            "email_id": email_id,
            "kind": kind,
            "original_category": category,
            "corrected_category": corrected,
            "actor": "bench",
            "created_at": now,
        }
    ]
    if kind == "category_corrected":  # a correction usually comes with an answer written by hand
        rows.append({**rows[0], "kind": "reply_written", "corrected_category": None})
    return rows


async def _measure(url: str, reviewed: int, repeat: int) -> list[float]:
    categories = load_taxonomy().names
    db = Database(url)
    try:
        await _fill(db, reviewed, categories, seed=reviewed)
        timings = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            async with db.transaction() as session:
                await table(session, categories, 85, Target())
            timings.append(time.perf_counter() - started)
        return timings[1:]
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    backends = BACKENDS if options.backend == "all" else (options.backend,)
    print("| backend | reviewed emails | emails in all | median ms | max ms |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    with tempfile.TemporaryDirectory(prefix="emailbot-bench-autonomy-") as folder:
        for backend in backends:
            for reviewed in options.reviews:
                with fresh_database(backend, Path(folder), f"autonomy-{reviewed}") as url:
                    seconds = asyncio.run(_measure(url, reviewed, options.repeat))
                median, worst = statistics.median(seconds) * 1000, max(seconds) * 1000
                print(f"| {backend} | {reviewed:,} | {2 * reviewed:,} | {median:.0f} | {worst:.0f} |")  # noqa: T201


if __name__ == "__main__":
    main()
