"""What /health/detailed (`llm_service`) and /config/validation (`llm`) say about the configured LLM."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from emailbot.classifiers.llm.breaker import CLOSED
from emailbot.classifiers.llm.classifier import LLMClassifier
from emailbot.classifiers.llm.client import LLMRejected, LLMUnavailable
from emailbot.classifiers.llm.factory import llm_part

PROBE_TIMEOUT_SECONDS = 15


def public_endpoint(url: str) -> str:
    """The endpoint without credentials or query (an Azure URL may carry a key in it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else ""


async def llm_health(classifier: object) -> tuple[bool, dict[str, Any]] | None:
    """(working, details), or None when no LLM is configured. Working = the circuit is closed."""
    llm = llm_part(classifier)
    if llm is None:
        return None
    breaker = llm.guards.breaker.snapshot()
    profile = llm.client.profile
    details: dict[str, Any] = {
        "model": llm.client.model,
        "endpoint": public_endpoint(llm.client.endpoint),
        "classifier": getattr(classifier, "name", "llm"),
        "circuit_breaker": breaker.state,
        "consecutive_failures": breaker.failures,
        "last_error": breaker.last_error,
        "structured_output": profile.mode or "not yet detected",
        "logprobs": profile.logprobs,
        "cache": llm.guards.cache.name,
        "spent_today": round(await llm.guards.budget.spent(), 6),
        "daily_budget": llm.guards.budget.limit,
    }
    return breaker.state == CLOSED, details


async def probe(llm: LLMClassifier) -> tuple[str, str, dict[str, Any]]:
    """(pass|warn|fail, message, details) from one small structured request to the model."""
    details: dict[str, Any] = {"model": llm.client.model, "endpoint": public_endpoint(llm.client.endpoint)}
    try:
        completion = await asyncio.wait_for(llm.client.probe(), PROBE_TIMEOUT_SECONDS)
    except (LLMUnavailable, TimeoutError) as exc:
        return "fail", f"model {llm.client.model} is not reachable: {exc or 'timed out'}", details
    except LLMRejected as exc:
        return "fail", f"model {llm.client.model} supports no structured-output mode: {exc}", details
    details |= {
        "structured_output": completion.mode,
        "logprobs": bool(completion.logprobs),
        "model_answered": completion.model,
    }
    if completion.mode == "json_schema":
        return "pass", f"model {llm.client.model} is reachable and supports JSON-schema structured output", details
    return (
        "warn",
        f"model {llm.client.model} is reachable but does not enforce a JSON schema; using {completion.mode} "
        "(answers are still validated)",
        details,
    )
