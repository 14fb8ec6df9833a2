"""Noise through a real runtime: left alone and listed, never answered; pulled back by a person, once, audited."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from emailbot.api.app import create_app
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import AuditLogRow, FeedbackRow
from tests.api_clients import admin_client
from tests.factories import rfc822
from tests.runtime_fixtures import settings_for

SPAM = rfc822("You have won", "Claim your prize now.", headers={"X-Spam-Flag": "YES"})
THANKS = rfc822("Re: VPN not connecting", "That worked, thank you so much! All good now.")
REQUEST = rfc822("Printer on floor 2", "The printer on floor 2 shows a paper jam error. Can someone fix it please?")


@pytest.fixture
async def noisy(tmp_path: Path, database_url: str, starter_model_dir: Path) -> AsyncIterator[Runtime]:
    """A runtime that moves noise to the Maildir folder `Junk`."""
    shutil.copytree(starter_model_dir, tmp_path / "models")
    built = build_runtime(settings_for(tmp_path, database_url, noise_folder="Junk"))
    yield built
    await built.close()


@pytest.fixture
async def api(noisy: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(noisy, create_app(noisy)) as http:
        yield http


def _deliver(runtime: Runtime, **messages: bytes) -> Path:
    root = Path(runtime.settings.local_mailbox_dir)
    (root / "new").mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (root / "new" / name).write_bytes(raw)
    return root


async def _by_subject(api: httpx.AsyncClient, **filters: str) -> dict[str, dict[str, object]]:
    items = (await api.get("/emails", params=filters)).json()["items"]
    return {item["subject"]: item for item in items}


async def test_noise_is_listed_moved_and_never_answered(api: httpx.AsyncClient, noisy: Runtime) -> None:
    root = _deliver(noisy, spam=SPAM, thanks=THANKS, request=REQUEST)
    await api.post("/process/trigger")
    noise = await _by_subject(api, action="NO_ACTION")
    assert set(noise) == {"You have won", "Re: VPN not connecting"}
    assert noise["You have won"]["noise"] == "spam"
    assert noise["Re: VPN not connecting"]["noise"] == "thanks"
    assert set(await _by_subject(api, action="NO_ACTION", noise="thanks")) == {"Re: VPN not connecting"}
    assert "Printer on floor 2" in await _by_subject(api)
    assert sorted(path.name.split(":")[0] for path in (root / ".Junk" / "cur").iterdir()) == ["spam", "thanks"]
    answered = [path.read_bytes() for path in root.glob(".Sent/*/*")]
    assert all(b"Subject: Re: Printer on floor 2" in reply for reply in answered)  # the request only
    detail = (await api.get(f"/emails/{noise['Re: VPN not connecting']['id']}")).json()
    assert detail["classification"]["noise"] == "thanks"
    assert detail["classification"]["request_confidence"] < 30
    assert detail["processing_result"]["noise"] == "thanks"
    assert detail["processing_result"]["reason"].startswith("noise: thanks")


async def test_a_person_pulls_an_email_back_from_noise(api: httpx.AsyncClient, noisy: Runtime) -> None:
    _deliver(noisy, thanks=THANKS, request=REQUEST)
    await api.post("/process/trigger")
    email_id = (await _by_subject(api, action="NO_ACTION"))["Re: VPN not connecting"]["id"]
    pulled = await api.post(f"/emails/{email_id}/not-noise")
    assert pulled.status_code == 200
    assert pulled.json()["details"]["action"] == "HUMAN_REVIEW"
    again = await api.post(f"/emails/{email_id}/not-noise")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_noise"
    detail = (await api.get(f"/emails/{email_id}")).json()
    assert (detail["processing_result"]["action"], detail["processing_result"]["status"]) == (
        "HUMAN_REVIEW",
        "completed",
    )
    assert detail["processing_result"]["noise"] == ""
    assert email_id in [item["id"] for item in (await api.get("/review/queue")).json()["items"]]
    async with noisy.db.transaction() as session:
        feedback = [(row.email_id, row.kind) for row in await session.scalars(select(FeedbackRow))]
        audited = list(await session.scalars(select(AuditLogRow.action)))
    assert feedback == [(email_id, "not_noise")]
    assert "POST /emails/{email_id}/not-noise" in audited
    request_id = (await _by_subject(api))["Printer on floor 2"]["id"]
    assert (await api.post(f"/emails/{request_id}/not-noise")).status_code == 409
