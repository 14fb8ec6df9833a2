"""Smoke test of the analytics benchmark: a tiny generated history on PostgreSQL, every endpoint answered.

No timing is asserted; what is checked is that the generated data is what the benchmark claims and that every
endpoint it times answered successfully on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.analytics import DAYS, ENDPOINTS, Options, markdown_table, run_benchmark

from tests.conftest import BACKENDS

EMAILS = 3000


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="EMAILBOT_TEST_BACKENDS excludes PostgreSQL")
def test_a_small_run_times_every_endpoint(tmp_path: Path) -> None:
    document = run_benchmark(Options(emails=EMAILS, repeat=1, out_dir=tmp_path))

    materialized = [row for row in document["rows"] if row["state"] == "materialized"]
    assert [row["endpoint"] for row in materialized] == [f"{method} {path}" for method, path in ENDPOINTS]
    assert all(row["median_ms"] > 0 for row in document["rows"])
    update = document["maintenance"]["/internal/metrics/update"]["answer"]
    assert update["days_updated"] in (DAYS, DAYS + 1)
    patterns = document["maintenance"]["/internal/patterns/analyze"]["answer"]
    assert patterns["patterns_found"] > 0
    assert patterns["emails_analyzed"] > 0
    [written] = list(tmp_path.glob("analytics-*.json"))
    assert json.loads(written.read_text())["emails"] == EMAILS
    assert markdown_table(document["rows"]).count("\n") == len(document["rows"]) + 1
