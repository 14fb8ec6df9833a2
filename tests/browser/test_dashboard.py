"""An operator's day in the dashboard, against the real service in a real browser.

The service is `emailbot run` as a new user starts it (no key configured, so it prints one); every email is
routed to a draft (thresholds set so), and a rule escalates outages. The browser signs in with the printed key,
approves and sends an edited draft, corrects a category, resolves an escalation, and opens every page; emails
carrying script and HTML must show as text, and requests without the CSRF token or with a wrong key are refused.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.service import Service, wait_for
from tests.factories import rfc822

pytestmark = pytest.mark.slow

XSS_SUBJECT = '<script>alert("subject")</script> Printer <b>jam</b>'
XSS_BODY = "Hello <img src=x onerror=alert('body')><script>alert('body2')</script><b>bold?</b> the printer jams."
EDITED = "Hello Alice, please restart the printer on floor 2; a technician comes by at 3 pm if it still fails."


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = {
        "EMAILBOT_POLL_INTERVAL_SECONDS": "0.3",
        "EMAILBOT_LOG_LEVEL": "WARNING",
        # Every email a draft, so that there is something to review whatever the classifier says.
        "EMAILBOT_THRESHOLD_AUTO": "99.9",
        "EMAILBOT_THRESHOLD_SUGGEST": "1",
        "EMAILBOT_THRESHOLD_REVIEW": "0.5",
    }
    running = Service(tmp_path, env)
    running.start()
    yield running
    running.stop()


def _printed_key(service: Service) -> str:
    match = re.search(r"^\s+(eb_\S+)$", service.log.read_text(), re.MULTILINE)
    assert match, "the first run must print the admin key"
    return match.group(1)


def _deliver(mailbox: Path, name: str, raw: bytes) -> None:
    (mailbox / "tmp" / name).write_bytes(raw)
    (mailbox / "tmp" / name).rename(mailbox / "new" / name)


def _sent(mailbox: Path) -> list[Path]:
    return sorted(mailbox.glob(".Sent/cur/*")) + sorted(mailbox.glob(".Sent/new/*"))


def _failed_auth(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT actor, details FROM audit_log WHERE action = 'auth.failed'").fetchall()


def _email_id(api: httpx.Client, subject_part: str) -> int:
    items = api.get("/emails").json()["items"]
    return next(item["id"] for item in items if subject_part in item["subject"])


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_an_operators_day(service: Service, browser: Browser, artifacts: Path) -> None:
    key = _printed_key(service)
    mailbox = service.workdir / "var" / "mailbox"
    database = service.workdir / "var" / "emailbot.db"
    api = httpx.Client(base_url=service.url, headers={"X-API-Key": key}, timeout=10)
    rule = {"name": "outages escalate", "subject_contains": "outage", "action": "escalate"}
    assert api.post("/processing/rules", json=rule).status_code == 201
    _deliver(mailbox, "1.draft", rfc822("Cannot print on floor 2", "The printer on floor 2 shows an error."))
    _deliver(mailbox, "2.xss", rfc822(XSS_SUBJECT, XSS_BODY, sender='"<b>Mallory</b>" <mallory@evil.example>'))
    _deliver(mailbox, "3.outage", rfc822("Network outage in building B", "Nothing works in building B."))
    wait_for(
        lambda: api.get("/process/status").json()["processing_stats"]["total_processed"] == 3,
        timeout=120,
        what="the three emails to be processed",
    )

    dialogs: list[str] = []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # A browser asking for / lands on the sign-in page; a wrong key is refused and recorded.
    page.goto(service.url + "/")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    _shot(page, artifacts, "login")
    failed_before = len(_failed_auth(database))
    page.fill("input[name=api_key]", "eb_wrongwrongwrongwrongwrongwrongwrongwrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not valid")
    assert httpx.get(f"{service.url}/emails", headers={"X-API-Key": "eb_guess"}, timeout=10).status_code == 401
    failures = _failed_auth(database)
    assert len(failures) == failed_before + 2
    assert {actor for actor, _ in failures[-2:]} == {"eb_wrongwro", "eb_guess"}
    assert all('"reason": "unknown"' in details and '"client": "127.0.0.1"' in details for _, details in failures[-2:])

    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/$"))
    expect(page.locator("#accuracy")).to_have_text("–")
    _shot(page, artifacts, "overview")

    page.goto(service.url + "/ui/queue")
    expect(page.locator("table")).to_contain_text("Cannot print on floor 2")
    _shot(page, artifacts, "queue")

    # Script and HTML from an email are shown as text, never run or rendered.
    xss_id = _email_id(api, "Printer <b>jam</b>")
    page.goto(f"{service.url}/ui/emails/{xss_id}")
    expect(page.locator("h1.subject")).to_have_text(XSS_SUBJECT)
    expect(page.locator("#email-body")).to_contain_text(XSS_BODY)
    expect(page.locator("p.muted").first).to_contain_text("From <b>Mallory</b> <mallory@evil.example>")
    assert page.locator("#email-body img, #email-body script, #email-body b, h1.subject script").count() == 0
    _shot(page, artifacts, "email-with-script")

    # Approve an edited draft: the reply goes out once, however often the form is sent.
    draft_id = _email_id(api, "Cannot print on floor 2")
    page.goto(f"{service.url}/ui/emails/{draft_id}")
    _shot(page, artifacts, "email-draft")
    page.fill("#reply-text", EDITED)
    page.get_by_role("button", name="Approve and send").click()
    expect(page.locator(".flash")).to_have_text("The reply was sent.")
    (reply,) = _sent(mailbox)
    assert EDITED.encode() in reply.read_bytes()
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    again = page.request.post(
        f"{service.url}/ui/emails/{draft_id}/approve", form={"csrf_token": token or "", "text": "x"}
    )
    assert again.ok
    assert len(_sent(mailbox)) == 1

    # A state-changing request without (or with a wrong) CSRF token is refused.
    for form in ({}, {"csrf_token": "forged"}):
        refused = page.request.post(f"{service.url}/ui/emails/{xss_id}/reviewed", form=form)
        assert refused.status == 403
    assert api.get("/review/queue").json()["total"] == 1  # the XSS email is still waiting

    # Correct a category: the accuracy from feedback changes (one approved draft right, this one wrong).
    page.goto(service.url + "/ui/")
    expect(page.locator("#accuracy")).to_have_text("100.0%")
    page.goto(f"{service.url}/ui/emails/{xss_id}")
    current = page.locator("#category").inner_text().split()[0]
    other = next(name for name in ("PURCHASING", "INFORMATION") if name != current)
    page.select_option("select[name=category]", other)
    page.get_by_role("button", name="Save category").click()
    expect(page.locator("#category")).to_contain_text(other)
    expect(page.locator("ul.reviews")).to_contain_text(f"bootstrap admin: category corrected {current} → {other}")
    page.goto(service.url + "/ui/")
    expect(page.locator("#accuracy")).to_have_text("50.0%")
    assert api.get("/process/status").json()["processing_stats"]["classification_accuracy"] == 0.5

    # Resolve the escalation the rule opened.
    page.goto(service.url + "/ui/escalations")
    row = page.locator("tr", has_text="network-outage-in-building-b")
    row.locator("input[name=notes]").fill("switch replaced")
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator(".flash")).to_contain_text("resolved")
    expect(page.locator("tr", has_text="network-outage-in-building-b").locator(".status")).to_contain_text("resolved")
    _shot(page, artifacts, "escalations")

    for name in ("emails", "patterns", "alerts", "settings", "learning", "validation"):
        page.goto(f"{service.url}/ui/{name}")
        expect(page.locator("h1").first).to_be_visible()
        _shot(page, artifacts, name)
    expect(page.locator("body")).not_to_contain_text("Internal Server Error")
    assert dialogs == []
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(
        f"{n}.png"
        for n in (
            "login",
            "overview",
            "queue",
            "email-with-script",
            "email-draft",
            "escalations",
            "emails",
            "patterns",
            "alerts",
            "settings",
            "learning",
            "validation",
        )
    )
