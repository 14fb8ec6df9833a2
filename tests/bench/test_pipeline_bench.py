"""Smoke test of the pipeline benchmark: a tiny run on SQLite must produce coherent numbers.

No timing is asserted (CI machines vary); what is checked is that the benchmark measures what it claims to: every
generated email went through the real pipeline to a final state, the baseline stored every email and its
classification, and the reported numbers are positive and consistent with each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.corpus import write_mailbox
from bench.pipeline import Options, markdown_table, run_benchmark

EMAILS = 50


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out_dir = tmp_path_factory.mktemp("bench-results")
    document: dict[str, Any] = run_benchmark(Options(emails=EMAILS, backends=("sqlite",), out_dir=out_dir))
    return document


def _row(document: dict[str, Any], scenario: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [row for row in document["summary"] if row["scenario"] == scenario]
    assert len(rows) == 1
    return rows[0]


def test_every_email_reaches_a_final_state(document: dict[str, Any]) -> None:
    pipeline = _row(document, "pipeline")
    counts = pipeline["counts"]
    assert sum(counts["status"].values()) == EMAILS
    assert set(counts["status"]) <= {"completed", "failed"}
    assert sum(counts["action"].values()) == EMAILS
    assert counts["processing_rows"]["total"] == EMAILS
    assert counts["maildir"]["new"] == 0
    assert counts["maildir"]["cur"] == EMAILS


def test_side_effects_match_the_mailbox(document: dict[str, Any]) -> None:
    counts = _row(document, "pipeline")["counts"]
    effects = counts["side_effects"]
    assert counts["maildir"]["sent"] == effects.get("reply:done", 0)
    assert counts["maildir"]["drafts"] == effects.get("draft:done", 0)
    assert effects.get("mark:done", 0) == counts["processing_rows"]["processed_by_worker"]


def test_baseline_stores_every_email_and_classification(document: dict[str, Any]) -> None:
    baseline = _row(document, "baseline")
    assert baseline["counts"]["rows"] == {"emails": EMAILS, "classifications": EMAILS}
    assert baseline["ratio_to_baseline"] == 1.0
    assert all(seconds >= 0 for seconds in baseline["stages_s"].values())


@pytest.mark.parametrize("scenario", ["baseline", "pipeline"])
def test_numbers_are_positive(document: dict[str, Any], scenario: str) -> None:
    row = _row(document, scenario)
    assert row["emails"] == EMAILS
    assert row["elapsed_s"] > 0
    assert row["emails_per_s"] > 0
    assert row["peak_rss_mb"] > 0
    assert row["cpu_s"] > 0
    assert row["pinned_to"] == [0]


def test_latencies_are_ordered(document: dict[str, Any]) -> None:
    pipeline = _row(document, "pipeline")
    for latency in (pipeline["latency_e2e_ms"], pipeline["latency_in_worker_ms"]):
        assert 0 <= latency["p50"] <= latency["p95"] <= latency["max"]
    assert pipeline["ratio_to_baseline"] > 0


def test_results_are_saved_and_reported(document: dict[str, Any]) -> None:
    saved = json.loads(Path(document["path"]).read_text())
    assert saved["emails"] == EMAILS
    assert [run["scenario"] for run in saved["runs"]] == ["baseline", "pipeline"]
    assert set(saved["aims"]) == {"sqlite"}
    table = markdown_table(document["summary"])
    assert table.count("\n| sqlite |") == 2


def test_corpus_is_deterministic(tmp_path: Path) -> None:
    first = write_mailbox(tmp_path / "a", 30, seed=7)
    second = write_mailbox(tmp_path / "b", 30, seed=7)
    files_a = sorted((tmp_path / "a" / "new").iterdir())
    files_b = sorted((tmp_path / "b" / "new").iterdir())
    assert [f.read_bytes() for f in files_a] == [f.read_bytes() for f in files_b]
    assert first.as_dict() == second.as_dict()
    assert sum(first.kinds.values()) == 30
