"""What authentication costs per API request: the same read with the key check and rate limit, and without.

    uv run python -m bench.api_auth --requests 2000

In process (httpx's ASGI transport, no sockets), on a fresh SQLite database: `GET /emails?page_size=1` with an
admin key (key lookup + in-memory or Redis rate limit + headers), and with the auth dependency overridden away.
Prints a Markdown table of median and p95 latency per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from emailbot.api.app import create_app
from emailbot.api.auth import require_access
from emailbot.auth.keys import Role, create_key
from emailbot.auth.ratelimit import RedisRateLimiter
from emailbot.runtime import build_runtime
from emailbot.settings import load_settings
from emailbot.store.migrate import upgrade


async def _timed(client: httpx.AsyncClient, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get("/emails", params={"page_size": 1})
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return samples


async def run(folder: Path, requests: int, redis_url: str) -> list[tuple[str, list[float]]]:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    settings = load_settings(
        database_url=url,
        data_dir=folder,
        local_mailbox_dir=folder / "mailbox",
        model_dir=folder / "models",
        rate_limit_per_minute=100_000,
    )
    runtime = build_runtime(settings)
    app = create_app(runtime, run_engine=False)
    async with runtime.db.transaction() as session:
        key = await create_key(session, "bench", Role.ADMIN)
    results = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers={"X-API-Key": key}) as client:
        await _timed(client, 50)  # warm-up
        results.append(("key + in-memory rate limit", await _timed(client, requests)))
        app.state.rate_limiter = RedisRateLimiter(redis_url, 100_000, f"emailbot-bench:{uuid.uuid4().hex}")
        results.append(("key + Redis rate limit", await _timed(client, requests)))
        await app.state.rate_limiter.close()
        app.dependency_overrides[require_access] = lambda: None
        results.append(("no authentication", await _timed(client, requests)))
    await runtime.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="emailbot-bench-auth-"))
    upgrade(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    results = asyncio.run(run(folder, options.requests, options.redis_url))
    print("| variant | requests | median (ms) | p95 (ms) |")
    print("|---|---|---|---|")
    for name, samples in results:
        p95 = statistics.quantiles(samples, n=20)[-1]
        print(f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
