"""The Graph benchmark: HTTP requests to Microsoft Graph per processed email, and a burst's wall time against
Graph's throttling limits, with the real connector (MSAL, httpx, delta, $batch) on the M365 sandbox.

    uv run python -m bench.graph [--burst 1000] [--steady 300] [--rate 10] [--keep]

Two scenarios, each on a fresh SQLite database and a fresh sandbox tenant, with EmailBot's default settings
(poll every 2 s, batches of 50, 4 workers, delta pages of 50), the service running as `emailbot run` runs it:
1. steady state: `--steady` emails arrive at `--rate` per second while the service runs; counted from the first
   arrival until every email is final (idle polls included);
2. burst: `--burst` emails are in the inbox when the service starts; counted until every email is final.
The sandbox counts every HTTP request it receives (a `$batch` is one request) and every call inside batches; Graph's
mailbox limits are 4 concurrent requests and 10,000 calls per 10 minutes, where each call inside a `$batch` counts.
The corpus is bench/corpus.py's (replies, HTML, list mail, auto-replies, escalations...). Results go to
bench/results/graph-*.json and a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import write_mailbox
from emailbot.mail.graph.mailbox import GraphMailboxes
from emailbot.runtime import Runtime, build_runtime
from emailbot.sandbox.server import Sandbox, SandboxServer
from emailbot.settings import load_settings
from emailbot.store.migrate import upgrade

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
AIM_REQUESTS_PER_EMAIL = 0.3
BUDGET_CALLS = 10_000
BUDGET_WINDOW_SECONDS = 600
CONCURRENCY = 4


@dataclass
class Result:
    scenario: str
    emails: int
    seconds: float
    http_requests: int
    calls: int  # Graph calls, each $batch item counted (what the throttling budget counts)
    by_route: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    max_in_flight: int = 0
    throttled: int = 0

    @property
    def requests_per_email(self) -> float:
        return self.http_requests / self.emails

    @property
    def calls_per_email(self) -> float:
        return self.calls / self.emails

    @property
    def budget_bound_seconds(self) -> float:
        """The shortest time Graph's 10,000-calls-per-10-minutes budget allows for these calls, once exhausted."""
        return max(0.0, (self.calls - BUDGET_CALLS) / BUDGET_CALLS * BUDGET_WINDOW_SECONDS)


def corpus(folder: Path, count: int) -> list[bytes]:
    write_mailbox(folder, count)
    return [path.read_bytes() for path in sorted((folder / "new").iterdir())]


def run_scenario(
    name: str, messages: list[bytes], folder: Path, *, rate: float | None, model_dir: Path | None = None
) -> Result:
    sandbox = Sandbox(folder / "pki")
    server = SandboxServer(sandbox)
    server.start()
    try:
        database = folder / f"{name}.db"
        upgrade(f"sqlite+aiosqlite:///{database}")
        env = {k.removeprefix("EMAILBOT_").lower(): v for k, v in server.settings().items()}
        settings = load_settings(
            **env,
            mailbox_address=sandbox.state.config.mailbox,
            database_url=f"sqlite+aiosqlite:///{database}",
            model_dir=model_dir or folder / "models",
            data_dir=folder / "var",
        )
        if rate is None:
            for raw in messages:
                sandbox.state.deliver(raw)
        result = asyncio.run(_serve(name, settings, sandbox, messages, rate))
    finally:
        server.stop()
    with sqlite3.connect(database) as connection:
        result.actions = dict(connection.execute("SELECT action, count(*) FROM processing_results GROUP BY action"))
    return result


async def _serve(name: str, settings: Any, sandbox: Sandbox, messages: list[bytes], rate: float | None) -> Result:
    runtime = build_runtime(settings)
    try:
        sandbox.state.reset_request_log()
        started = time.perf_counter()
        runtime.engine.start()
        if rate is not None:
            for index, raw in enumerate(messages):
                await _until(started + index / rate)
                sandbox.state.deliver(raw)
        await _until_all_final(runtime, len(messages))
        seconds = time.perf_counter() - started
        await runtime.engine.stop()
    finally:
        await runtime.close()
    log = list(sandbox.state.request_log)
    mailbox = runtime.mailbox
    assert isinstance(mailbox, GraphMailboxes)
    return Result(
        scenario=name,
        emails=len(messages),
        seconds=round(seconds, 2),
        http_requests=sum(1 for entry in log if not entry.in_batch),
        calls=sum(1 for entry in log if entry.in_batch or entry.route != "/$batch"),
        by_route=dict(Counter(f"{e.method} {e.route}" + (" (in $batch)" if e.in_batch else "") for e in log)),
        max_in_flight=max(mailbox.client.max_in_flight.values(), default=0),
        throttled=sum(1 for entry in log if entry.status == 429),
    )


async def _until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _until_all_final(runtime: Runtime, count: int, timeout: float = 1800) -> None:
    from sqlalchemy import func, select

    from emailbot.store.tables import ProcessingResultRow

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        async with runtime.db.sessions() as session:
            final = await session.scalar(
                select(func.count()).where(ProcessingResultRow.status.in_(("completed", "failed")))
            )
        if int(final or 0) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not every email was processed within {timeout} s")


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | emails | HTTP requests | per email | Graph calls (batch items counted) | per email | wall time |"
        " budget bound | peak in flight |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.emails} | {r.http_requests} | {r.requests_per_email:.3f} | {r.calls} | "
            f"{r.calls_per_email:.2f} | {r.seconds:.1f} s | {r.budget_bound_seconds:.0f} s | {r.max_in_flight} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--steady", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="steady-state arrivals per second")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="emailbot-bench-graph-"))
    results = []
    if options.steady:
        steady = corpus(folder / "steady-corpus", options.steady)
        results.append(run_scenario("steady", steady, folder / "steady", rate=options.rate))
    if options.burst:
        burst = corpus(folder / "burst-corpus", options.burst)
        results.append(run_scenario("burst", burst, folder / "burst", rate=None))
    print(table(results))
    for result in results:
        aim = "meets" if result.requests_per_email <= AIM_REQUESTS_PER_EMAIL else "misses"
        print(f"{result.scenario}: {result.requests_per_email:.3f} requests/email ({aim} the aim of <= 0.3)")
        print(f"  actions {result.actions}; 429 answers {result.throttled}; requests {result.by_route}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    payload = {
        "when": stamp,
        "commit": commit.stdout.strip(),
        "machine": platform.platform(),
        "options": vars(options),
        "results": [asdict(r) | {"requests_per_email": r.requests_per_email} for r in results],
    }
    (RESULTS_DIR / f"graph-{stamp}.json").write_text(json.dumps(payload, indent=2))
    if not options.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
