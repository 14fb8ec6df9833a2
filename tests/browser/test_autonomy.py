"""Earned autonomy in the dashboard, against the real service (`emailbot run`, the product's default
EMAILBOT_AUTONOMY=earned) in a real browser: the operator sees per category the reviews, precision, coverage and
whether auto-send is allowed; an admin grants it (the next email is answered automatically) and revokes it (the
next one is a draft again); a viewer sees the table without the buttons."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_dashboard import _deliver, _email_id, _printed_key, _sent, _shot
from tests.e2e.service import Service, wait_for
from tests.factories import rfc822

pytestmark = pytest.mark.slow
SUBJECT = "Cannot print on floor 2"
BODY = "The printer on floor 2 shows an error and nothing comes out."


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = {
        "EMAILBOT_AUTONOMY": "earned",
        "EMAILBOT_POLL_INTERVAL_SECONDS": "0.3",
        "EMAILBOT_LOG_LEVEL": "WARNING",
        # Every email confident enough to auto-send, so that only autonomy decides between a reply and a draft.
        "EMAILBOT_THRESHOLD_AUTO": "1",
        "EMAILBOT_THRESHOLD_SUGGEST": "0.5",
        "EMAILBOT_THRESHOLD_REVIEW": "0.2",
    }
    running = Service(tmp_path, env)
    running.start()
    yield running
    running.stop()


def _processed(api: httpx.Client, count: int) -> None:
    wait_for(
        lambda: api.get("/process/status").json()["processing_stats"]["total_processed"] == count,
        timeout=120,  # a hang guard for a busy machine, not an expectation
        what=f"{count} emails to be processed",
    )


def _action(api: httpx.Client, subject: str) -> tuple[str, str]:
    detail = api.get(f"/emails/{_email_id(api, subject)}").json()
    return detail["processing_result"]["action"], detail["processing_result"]["reason"]


def test_an_admin_grants_and_revokes_auto_send(service: Service, browser: Browser, artifacts: Path) -> None:
    key = _printed_key(service)
    mailbox = service.workdir / "var" / "mailbox"
    api = httpx.Client(base_url=service.url, headers={"X-API-Key": key}, timeout=10)
    _deliver(mailbox, "1.first", rfc822(f"{SUBJECT} (1)", BODY, sender="ann@customer.example"))
    _processed(api, 1)
    action, reason = _action(api, "(1)")
    assert action == "SUGGEST_RESPONSE"
    category = re.search(r"auto-send not yet earned for (\w+): 0 reviews", reason)
    assert category, reason
    name = category.group(1)

    page = browser.new_page()
    page.goto(service.url + "/ui/login")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Autonomy").click()
    row = page.locator(f"#autonomy tr[data-category={name}]")
    expect(row.locator(".status")).to_have_text("no: not yet earned")
    expect(row).to_contain_text("100% of 1")  # coverage: the one email is at or above the threshold
    _shot(page, artifacts, "autonomy")

    row.get_by_role("button", name="Grant").click()
    expect(page.locator(".flash")).to_have_text(f"Auto-send granted for {name} by bootstrap admin.")
    expect(row.locator(".status")).to_have_text("yes: granted by bootstrap admin")
    _deliver(mailbox, "2.second", rfc822(f"{SUBJECT} (2)", BODY, sender="bea@customer.example"))
    _processed(api, 2)
    assert _action(api, "(2)")[0] == "AUTO_HANDLE"
    assert len(_sent(mailbox)) == 1

    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".status")).to_have_text("no: revoked by bootstrap admin")
    _deliver(mailbox, "3.third", rfc822(f"{SUBJECT} (3)", BODY, sender="cy@customer.example"))
    _processed(api, 3)
    action, reason = _action(api, "(3)")
    assert action == "SUGGEST_RESPONSE"
    assert reason.endswith(f"auto-send revoked for {name} by bootstrap admin")
    (same,) = [item for item in api.get("/autonomy").json()["items"] if item["category"] == name]
    assert (same["auto_send"], same["status"]) == (False, "revoked by bootstrap admin")  # the API's table agrees

    viewer_key = api.post("/keys", json={"name": "reader", "role": "viewer"}).json()["key"]
    viewer = browser.new_page()
    viewer.goto(service.url + "/ui/login")
    viewer.fill("input[name=api_key]", viewer_key)
    viewer.click("button[type=submit]")
    viewer.goto(service.url + "/ui/autonomy")
    expect(viewer.locator(f"#autonomy tr[data-category={name}] .status")).to_have_text("no: revoked by bootstrap admin")
    assert viewer.get_by_role("button", name="Grant").count() == 0
    token = viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = viewer.request.post(f"{service.url}/ui/autonomy/{name}/grant", form={"csrf_token": token or ""})
    assert refused.status == 403
