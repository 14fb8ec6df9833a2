"""The dashboard's noise list and its "not noise" action, over HTTP on a real runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from emailbot.api.app import create_app
from emailbot.auth.keys import Role
from emailbot.runtime import Runtime
from tests.factories import rfc822
from tests.ui.test_pages import _csrf, _key, _sign_in


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime, run_engine=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _process(runtime: Runtime, **messages: bytes) -> None:
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (new / name).write_bytes(raw)
    await runtime.engine.poll_once()
    await runtime.engine.drain()


async def test_the_noise_page_lists_noise_and_an_operator_pulls_one_back(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    spam = rfc822("<b>Winner</b> of our draw", "Claim your prize.", headers={"X-Spam-Flag": "YES"})
    await _process(runtime, spam=spam, request=rfc822("Printer jam", "The printer on floor 2 is jammed, please help."))
    await _sign_in(http, await _key(runtime, Role.OPERATOR))
    page = (await http.get("/ui/noise")).text
    assert "&lt;b&gt;Winner&lt;/b&gt; of our draw" in page
    assert "Printer jam" not in page
    assert '<span class="tag">spam</span>' in page
    email_id = int(page.split('href="/ui/emails/')[1].split('"')[0])
    detail = await http.get(f"/ui/emails/{email_id}")
    assert "Not noise: send to review" in detail.text
    pulled = await http.post(f"/ui/emails/{email_id}/not-noise", data={"csrf_token": _csrf(detail)})
    assert (pulled.status_code, pulled.headers["location"]) == (303, f"/ui/emails/{email_id}")
    after = (await http.get(f"/ui/emails/{email_id}")).text
    assert "Sent to human review." in after
    assert "Not noise: send to review" not in after
    assert "of our draw" not in (await http.get("/ui/noise")).text
    assert "of our draw" in (await http.get("/ui/queue")).text
