"""The Graph benchmark's code on a small burst: coherent counts, no timing asserted."""

from __future__ import annotations

from pathlib import Path

from bench.graph import corpus, run_scenario

from tests.mail.graph.conftest import trained_model_dir

__all__ = ["trained_model_dir"]  # the session's trained model, shared with the Graph connector tests


def test_a_small_burst_is_counted_coherently(tmp_path: Path, trained_model_dir: Path) -> None:
    messages = corpus(tmp_path / "corpus", 30)
    result = run_scenario("burst", messages, tmp_path / "run", rate=None, model_dir=trained_model_dir)
    assert sum(result.actions.values()) == 30
    assert result.by_route["POST /$batch"] >= 1
    assert result.http_requests == sum(n for route, n in result.by_route.items() if "(in $batch)" not in route)
    assert result.calls >= 30 * 2  # at least each message's download and its mark
    assert result.by_route["GET /users/{user}/messages/{message}/$value (in $batch)"] == 30
    assert 0 < result.max_in_flight <= 4
    assert result.requests_per_email < result.calls_per_email
