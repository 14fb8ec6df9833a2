"""`/health/detailed` component `llm_service` and `/config/validation` `validations.llm`, over the real API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from emailbot.classifiers.llm.factory import llm_part
from emailbot.runtime import Runtime
from tests.api_clients import admin_client
from tests.classifiers.llm.conftest import BuildRuntime
from tests.fakes.openai_server import FakeOpenAI


async def _client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(runtime) as http:
        yield http


async def _get(runtime: Runtime, path: str) -> dict[str, object]:
    async for http in _client(runtime):
        response = await http.get(path)
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body
    raise AssertionError("no client")


async def test_health_shows_the_llm_service_and_its_breaker(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    runtime = make_llm_runtime(llm_breaker_failures=1, llm_breaker_reset_seconds=300)
    body = await _get(runtime, "/health/detailed")
    llm = body["components"]["llm_service"]  # type: ignore[index]
    assert llm["status"] == "healthy"
    assert (llm["model"], llm["circuit_breaker"], llm["endpoint"]) == ("fake-model", "closed", openai_server.url)
    assert "test-key" not in str(body)
    llm_part(runtime.classifier).guards.breaker.record_failure("APIConnectionError: connection refused")  # type: ignore[union-attr]
    body = await _get(runtime, "/health/detailed")
    llm = body["components"]["llm_service"]  # type: ignore[index]
    assert (llm["status"], llm["circuit_breaker"]) == ("degraded", "open")
    assert "connection refused" in llm["last_error"]
    assert body["status"] == "degraded"


async def test_validation_checks_reachability_and_structured_output(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    runtime = make_llm_runtime()
    llm = (await _get(runtime, "/config/validation"))["validations"]["llm"]  # type: ignore[index]
    assert llm["status"] == "pass"
    assert llm["details"]["structured_output"] == "json_schema"

    openai_server.supports = ("json_object",)
    llm_part(runtime.classifier).client.profiles.clear()  # type: ignore[union-attr]
    llm = (await _get(runtime, "/config/validation"))["validations"]["llm"]  # type: ignore[index]
    assert llm["status"] == "warn"
    assert "json_object" in llm["message"]

    openai_server.down = True
    llm = (await _get(runtime, "/config/validation"))["validations"]["llm"]  # type: ignore[index]
    assert llm["status"] == "fail"
    assert "not reachable" in llm["message"]


async def test_validation_skips_the_llm_when_none_is_configured(runtime: Runtime) -> None:
    body = await _get(runtime, "/config/validation")
    assert body["validations"]["llm"]["status"] == "skipped"  # type: ignore[index]
    assert "llm_service" not in (await _get(runtime, "/health/detailed"))["components"]  # type: ignore[operator]
