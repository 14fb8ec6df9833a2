"""The real `emailbot run` on the M365 sandbox (real MSAL, real httpx, HTTPS with the sandbox's CA): 500 emails
with a fifth of all Graph calls failing and a SIGKILL in the middle, then change notifications driving the work.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from emailbot.mail.graph.actions import KEY_HEADER
from emailbot.sandbox.state import SandboxConfig
from tests.e2e.service import Service, wait_for
from tests.fakes.m365 import M365Sandbox, running_sandbox
from tests.fakes.net import free_port
from tests.mail.graph.conftest import trained_model_dir

__all__ = ["trained_model_dir"]  # the starter model trained once per session, shared with the connector tests

pytestmark = pytest.mark.slow

ROUTINE = [
    ("Password reset for my account", "Hi, I forgot my password and cannot log in to my laptop. Can you reset it?"),
    ("Quote for 10 Adobe licences", "Please send us a quote for ten Adobe Acrobat licences for the finance team."),
    ("Office hours over the holidays", "What are the help desk opening hours between Christmas and New Year?"),
    ("VPN keeps disconnecting", "Since this morning my VPN drops every few minutes when I work from home."),
    ("Server room is down!!", "The whole production database cluster is down and all users are affected."),
    (
        "Following up",
        "Hi, just following up on my earlier message about the invoice and the new laptop order. Any news?",
    ),
    ("Printer", "The printer on floor 2 prints blank pages and we also need a quote for toner."),
    (
        "Question about licences",
        "Do we have licences for Visio, and could you advise whether we should move to the cloud?",
    ),
]


@pytest.fixture
def sandbox(m365_pki_dir: Path) -> Iterator[M365Sandbox]:
    with running_sandbox(m365_pki_dir, SandboxConfig()) as running:
        yield running


def _service(tmp_path: Path, sandbox: M365Sandbox, models: Path, **extra: str) -> Service:
    env = sandbox.env() | {
        "EMAILBOT_MAILBOX_ADDRESS": sandbox.mailbox,
        "EMAILBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'emailbot.db'}",
        "EMAILBOT_MODEL_DIR": str(models),
        "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
        "EMAILBOT_LOG_LEVEL": "WARNING",
        **extra,
    }
    return Service(tmp_path, env)


def _query(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "emailbot.db") as connection:
        return connection.execute(sql).fetchall()


def _count(tmp_path: Path, sql: str) -> int:
    try:
        return int(_query(tmp_path, sql)[0][0])  # type: ignore[call-overload]
    except sqlite3.OperationalError:  # the service has not created the schema yet
        return 0


def _keys(messages: list[object]) -> Counter[str]:
    """X-EmailBot-Key of each message: a reply or draft made twice shows as a count of 2."""
    keys: Counter[str] = Counter()
    for message in messages:
        headers = dict(getattr(message, "parsed").headers)  # noqa: B009
        keys[headers.get(KEY_HEADER, "")] += 1
    return keys


def _deliver(sandbox: M365Sandbox, count: int) -> None:
    for index in range(count):
        subject, body = ROUTINE[index % len(ROUTINE)]
        sandbox.deliver_email(
            subject=f"{subject} #{index}", body=body, sender=f"User {index} <u{index}@customer.example>"
        )


def test_500_emails_with_throttling_faults_and_a_crash_are_each_handled_once(
    tmp_path: Path, sandbox: M365Sandbox
) -> None:
    _deliver(sandbox, 500)
    sandbox.state.set_faults(failure_rate=0.2, failure_statuses=(429, 503, 504), retry_after_seconds=1, seed=7)
    service = _service(
        tmp_path,
        sandbox,
        trained_model_dir,
        EMAILBOT_POLL_INTERVAL_SECONDS="0.5",
        EMAILBOT_LEASE_SECONDS="10",
        # A fifth of all Graph calls fail, and on a loaded machine a short lease may run out under a slow batch:
        # enough attempts that no email's fate depends on the dice or the load, only on being handled once.
        EMAILBOT_MAX_ATTEMPTS="20",
        EMAILBOT_BATCH_SIZE="25",
        EMAILBOT_WORKER_CONCURRENCY="8",
        EMAILBOT_GRAPH_PAGE_SIZE="100",
    )
    try:
        service.start()
        # Pages of 100 are stored one after another, and a page's link is kept once it is stored: more than 100
        # stored means the first page's link is in the database.
        wait_for(
            lambda: _count(tmp_path, "SELECT count(*) FROM emails") > 100,
            timeout=90,
            interval=0.05,
            what="the second page of emails to be stored",
        )
        service.kill()
        stored_at_kill = _count(tmp_path, "SELECT count(*) FROM emails")
        assert stored_at_kill < 500, "the kill must land in the middle of the sync"
        assert _query(tmp_path, "SELECT kind FROM sync_cursors WHERE kind = 'inbox-delta'"), "a delta link was stored"

        service.start()
        wait_for(
            lambda: (
                _count(tmp_path, "SELECT count(*) FROM processing_results WHERE status IN ('completed', 'failed')")
                >= 500
            ),
            timeout=240,
            interval=0.2,
            what="all 500 emails to be processed after the restart",
        )
    finally:
        service.stop()
    sandbox.state.clear_faults()

    assert _count(tmp_path, "SELECT count(*) FROM emails") == 500
    errors = _query(tmp_path, "SELECT email_id, error FROM processing_results WHERE status != 'completed'")
    assert errors == []
    injected = Counter(entry.status for entry in sandbox.state.request_log if entry.status in (429, 503, 504))
    assert set(injected) == {429, 503, 504}, "every kind of fault was met and survived"
    replies_done = _count(tmp_path, "SELECT count(*) FROM side_effects WHERE kind = 'reply' AND status = 'done'")
    drafts_done = _count(tmp_path, "SELECT count(*) FROM side_effects WHERE kind = 'draft' AND status = 'done'")
    sent, drafts = _keys(list(sandbox.state.sent_items())), _keys(list(sandbox.state.drafts()))
    assert replies_done > 0
    assert drafts_done > 0
    assert max(sent.values()) == 1, f"a reply was sent twice: {[k for k, n in sent.items() if n > 1]}"
    assert max(drafts.values()) == 1, "a draft was saved twice"
    assert sum(sent.values()) == replies_done
    assert sum(drafts.values()) == drafts_done
    inbox = sandbox.state.messages_in("inbox")
    assert len(inbox) == 500
    assert all(message.is_read for message in inbox)
    categories = Counter(c for message in inbox for c in message.categories)
    assert sum(categories.values()) == 500
    assert set(categories) <= {
        f"EmailBot/{name}" for name in ("SUPPORT", "PURCHASING", "INFORMATION", "ESCALATION", "CONSULTATION")
    }
    flagged = sum(1 for message in inbox if message.flag_status == "flagged")
    assert flagged >= drafts_done  # drafts, reviews and escalations are flagged for a person


def test_a_change_notification_starts_processing_before_the_next_poll(
    tmp_path: Path, sandbox: M365Sandbox, trained_model_dir: Path
) -> None:
    port = free_port()
    service = _service(
        tmp_path,
        sandbox,
        trained_model_dir,
        EMAILBOT_POLL_INTERVAL_SECONDS="300",  # only a notification can make this email arrive in time
        EMAILBOT_GRAPH_NOTIFICATION_URL=f"http://127.0.0.1:{port}/notifications/graph",
    )
    service.port = port
    service.env["EMAILBOT_PORT"] = str(port)
    try:
        service.start()
        wait_for(lambda: sandbox.state.subscriptions, timeout=120, what="the subscription to be created")
        [subscription] = list(sandbox.state.subscriptions.values())
        assert subscription.client_state
        assert subscription.lifecycle_notification_url == f"http://127.0.0.1:{port}/notifications/graph/lifecycle"

        sandbox.deliver_email(subject="Password reset", body="Hi, I forgot my password. How can I reset it?")
        # Well before the next poll (300 s): only the notification can have brought it in.
        wait_for(lambda: _count(tmp_path, "SELECT count(*) FROM emails") == 1, timeout=120, what="the notified email")
        wait_for(
            lambda: _count(tmp_path, "SELECT count(*) FROM processing_results WHERE status = 'completed'") == 1,
            timeout=60,
            what="the notified email to be processed",
        )

        # Graph removed the subscription: EmailBot makes a new one.
        sandbox.notifier.lifecycle(subscription.id, "subscriptionRemoved")
        wait_for(
            lambda: any(s.id != subscription.id for s in sandbox.state.subscriptions.values()),
            timeout=60,
            what="a new subscription after subscriptionRemoved",
        )
        [renewed] = list(sandbox.state.subscriptions.values())
        before = renewed.expiration
        sandbox.notifier.lifecycle(renewed.id, "reauthorizationRequired")
        wait_for(lambda: renewed.expiration != before, timeout=60, what="the renewal after reauthorizationRequired")

        health = service.get("/health/detailed")["components"]
        assert health["m365_auth"]["token_valid"] is True
        assert "Mail.Send" in health["m365_auth"]["permissions"]
        assert health["email_client"]["reachable"] is True
        assert health["email_client"]["display_name"] == sandbox.state.config.mailbox_display_name
        validation = service.get("/config/validation")["validations"]
        assert validation["m365"]["status"] == "pass"
        assert validation["email_access"]["status"] == "pass"
    finally:
        service.stop()
    wait_for(lambda: not sandbox.state.subscriptions, timeout=60, what="the subscription to be deleted at stop")
