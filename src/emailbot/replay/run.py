"""Run the real pipeline over an export in shadow mode, on a scratch database in a temporary folder.

The user's settings (classifier, model, taxonomy, thresholds) are kept, so the answer is what *their* EmailBot
would do; everything that could reach the outside or their data is replaced: the database and the mailbox are
scratch, notifiers, alert webhooks, Teams and Redis are off, and the mode is shadow, so no intent is ever stored.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emailbot.domain import RawMessage
from emailbot.settings import Settings
from emailbot.store.outcomes import Outcome

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ReplayRun:
    outcomes: list[Outcome]
    seconds: float


def scratch_settings(settings: Settings, folder: Path) -> Settings:
    return settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{folder / 'replay.db'}",
            "data_dir": folder,
            "mailbox": "local",
            "local_mailbox_dir": folder / "mailbox",
            "mode": "shadow",
            "smtp_host": None,
            "notify_webhooks": [],
            "alert_webhook_urls": [],
            "teams_chats": False,
            "redis_url": None,
            "log_dir": None,
        }
    )


def replay(
    messages: Iterator[RawMessage], settings: Settings, *, limit: int | None = None, progress: Progress | None = None
) -> ReplayRun:
    """Ingest and process `messages` (at most `limit`) as EmailBot would, in shadow mode; the outcome of each."""
    import asyncio

    from emailbot.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="emailbot-replay-") as scratch:
        replay_settings = scratch_settings(settings, Path(scratch))
        upgrade(replay_settings.database_url)
        chosen = itertools.islice(messages, limit) if limit is not None else messages
        return asyncio.run(_replay(chosen, replay_settings, progress or (lambda _: None)))


async def _replay(messages: Iterator[RawMessage], settings: Settings, progress: Progress) -> ReplayRun:
    from emailbot.pipeline.parse import parse_email
    from emailbot.runtime import build_runtime
    from emailbot.store import outcomes, work

    runtime = build_runtime(settings)
    started = time.perf_counter()
    try:
        chunk_size = settings.batch_size * 4
        while chunk := list(itertools.islice(messages, chunk_size)):
            parsed = [(message, parse_email(message)) for message in chunk]
            async with runtime.db.transaction() as session:
                await work.ingest(session, "replay", parsed)
            # Chunk by chunk, in the export's order, so later mail sees the conversations of earlier mail.
            await runtime.engine.drain()
            progress(len(chunk))
        seconds = time.perf_counter() - started
        async with runtime.db.sessions() as session:
            found = [outcome async for outcome in outcomes.all_outcomes(session)]
        return ReplayRun(found, seconds)
    finally:
        await runtime.close()
