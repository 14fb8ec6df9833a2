"""Where the tests find the real servers they use. Each pytest-xdist worker gets its own Redis database, so
parallel workers never see each other's keys (PostgreSQL databases are per worker already: see conftest)."""

from __future__ import annotations

import os


def worker_number() -> int:
    """0 for a plain run or xdist's first worker (gw0), 1 for gw1, ..."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


REDIS_URL = os.environ.get("EMAILBOT_TEST_REDIS_URL") or f"redis://127.0.0.1:6379/{1 + worker_number() % 15}"
