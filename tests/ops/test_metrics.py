"""`GET /metrics` in Prometheus text format, fed from the database after real processing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from emailbot.ops.metrics import LLM_COST, LLM_TOKENS, REGISTRY
from emailbot.runtime import Runtime
from tests.factories import rfc822


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _total(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(value for found, value in samples if all(found.get(k) == v for k, v in labels.items()))


async def test_metrics_count_processed_emails_by_action_and_category(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    before = _samples((await client.get("/metrics")).text)
    new = tmp_path / "mailbox" / "new"
    new.mkdir(parents=True, exist_ok=True)
    for number in range(4):
        (new / f"{number}.eml").write_bytes(
            rfc822(f"Printer on floor {number} is jammed", "The printer shows a paper jam error, please help.")
        )
    await runtime.engine.poll_once()
    await runtime.engine.drain()

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    processed = after["emailbot_emails_processed_total"]
    gained = _total(processed, status="completed") - _total(
        before.get("emailbot_emails_processed_total", []), status="completed"
    )
    assert gained == 4
    assert all(labels["action"] and labels["category"] for labels, value in processed if value)
    histogram_gain = _total(after["emailbot_processing_seconds_count"]) - _total(
        before["emailbot_processing_seconds_count"]
    )
    assert histogram_gain == 4
    assert _total(after["emailbot_queue_size"]) == 0
    assert "emailbot_http_requests_total" in after

    # A scrape after nothing new counts nothing twice.
    again = _samples((await client.get("/metrics")).text)
    assert _total(again["emailbot_emails_processed_total"]) == _total(processed)


async def test_counters_for_other_parts_are_exported(client: httpx.AsyncClient) -> None:
    LLM_TOKENS.labels("gpt-test", "prompt").inc(120)
    LLM_COST.labels("gpt-test").inc(0.25)
    response = await client.get("/metrics")
    found = _samples(response.text)
    assert _total(found["emailbot_llm_tokens_total"], model="gpt-test", kind="prompt") >= 120
    assert _total(found["emailbot_llm_cost_usd_total"], model="gpt-test") >= 0.25
    families = {family.name: family.type for family in text_string_to_metric_families(response.text)}
    assert families["emailbot_graph_requests"] == "counter"
    assert families["emailbot_graph_throttles"] == "counter"
    assert families["emailbot_alerts_raised"] == "counter"
    assert families["emailbot_processing_seconds"] == "histogram"


def test_the_grafana_dashboard_only_uses_exported_metrics() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana" / "emailbot.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"emailbot_\w+", target["expr"])
    }
    exported = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    exported |= {f"{metric.name}_total" for metric in REGISTRY.collect() if metric.type == "counter"}
    exported |= {f"{metric.name}_bucket" for metric in REGISTRY.collect() if metric.type == "histogram"}
    exported |= {metric.name for metric in REGISTRY.collect()}
    assert used
    assert used <= exported, used - exported
