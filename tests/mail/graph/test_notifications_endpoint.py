"""The webhook Graph calls: validation handshake, clientState check, 202 with the poll triggered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from emailbot.api.app import create_app
from emailbot.runtime import Runtime, build_runtime
from tests.runtime_fixtures import settings_for

GRAPH_SETTINGS = {
    "mailbox": "graph",
    "graph_tenant_id": "contoso.onmicrosoft.com",
    "graph_client_id": "11111111-2222-3333-4444-555555555555",
    "graph_client_secret": "s3cret",
    "graph_mailbox": "helpdesk@contoso.com",
    "graph_client_state": "the-shared-secret",
}


@pytest.fixture
async def graph_runtime(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    built = build_runtime(settings_for(tmp_path, database_url, **GRAPH_SETTINGS))
    yield built
    await built.close()


@pytest.fixture
async def api(graph_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(graph_runtime, run_engine=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _notification(client_state: str, **extra: str) -> dict[str, object]:
    item = {
        "subscriptionId": "sub-1",
        "clientState": client_state,
        "changeType": "created",
        "resource": "Users/helpdesk@contoso.com/Messages/AAk=",
        **extra,
    }
    return {"value": [item]}


@pytest.mark.parametrize("path", ["/notifications/graph", "/notifications/graph/lifecycle"])
async def test_validation_token_is_echoed_as_plain_text(api: httpx.AsyncClient, path: str) -> None:
    response = await api.post(path, params={"validationToken": "Validation: Testing client application <x>"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Validation: Testing client application <x>"


async def test_genuine_notification_wakes_the_poller(api: httpx.AsyncClient, graph_runtime: Runtime) -> None:
    assert not graph_runtime.engine._wake.is_set()
    response = await api.post("/notifications/graph", json=_notification("the-shared-secret"))
    assert response.status_code == 202
    assert graph_runtime.engine._wake.is_set()


async def test_wrong_client_state_is_refused_and_wakes_nothing(api: httpx.AsyncClient, graph_runtime: Runtime) -> None:
    response = await api.post("/notifications/graph", json=_notification("the-shared-secreT"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_client_state"
    assert not graph_runtime.engine._wake.is_set()


async def test_malformed_notification_gets_a_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/notifications/graph", content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    response = await api.post("/notifications/graph", json={"values": []})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_notification"


async def test_missed_lifecycle_event_wakes_the_poller(api: httpx.AsyncClient, graph_runtime: Runtime) -> None:
    body = _notification("the-shared-secret", lifecycleEvent="missed")
    response = await api.post("/notifications/graph/lifecycle", json=body)
    assert response.status_code == 202
    assert graph_runtime.engine._wake.is_set()


async def test_without_graph_the_endpoint_is_not_there(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime, run_engine=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/notifications/graph", json=_notification("x"))
    assert response.status_code == 404
