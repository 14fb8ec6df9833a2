"""Change-notification subscriptions: the validation handshake against a loopback receiver, change notifications
with clientState on new mail, renewal, deletion and lifecycle events."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.m365 import M365Sandbox


class Receiver:
    """A webhook endpoint on loopback: answers the validation handshake as told and records notifications."""

    def __init__(self) -> None:
        self.echo = True  # echo the validation token as text/plain
        self.delay_seconds = 0.0  # how long the handshake answer takes
        self.failures_left = 0  # notifications to answer with 500 before accepting
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if "validationToken" in query:
                    token = query["validationToken"][0]
                    receiver.validations.append(token)
                    time.sleep(receiver.delay_seconds)  # the fault under test: a slow endpoint
                    answer = token if receiver.echo else "nope"
                    self._reply(200, answer.encode(), "text/plain")
                    return
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self._reply(500, b"", "text/plain")
                    return
                receiver.notifications.append(json.loads(body))
                self._reply(202, b"", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        self.lifecycle_url = f"http://127.0.0.1:{self.server.server_address[1]}/lifecycle"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.close()


def _in(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _subscription(m365_sandbox: M365Sandbox, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    return {
        "changeType": "created",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.lifecycle_url,
        "resource": f"users/{m365_sandbox.mailbox}/mailFolders('inbox')/messages",
        "expirationDateTime": _in(60),
        "clientState": "s3cret-state",
        **overrides,
    }


def test_subscribing_validates_the_endpoint_then_new_mail_is_notified(
    m365_sandbox: M365Sandbox, receiver: Receiver
) -> None:
    with m365_sandbox.graph() as graph:
        created = graph.post(
            "/subscriptions", json=_subscription(m365_sandbox, receiver), headers={"Prefer": 'IdType="ImmutableId"'}
        )
    message_id = m365_sandbox.deliver_email(subject="Notify me")
    m365_sandbox.wait_for(lambda: receiver.notifications)

    assert created.status_code == 201, created.text
    assert len(receiver.validations) == 2  # the notification URL and the lifecycle URL
    (notification,) = receiver.notifications[0]["value"]
    assert notification["subscriptionId"] == created.json()["id"]
    assert notification["clientState"] == "s3cret-state"
    assert notification["changeType"] == "created"
    assert notification["resourceData"]["id"] == message_id
    assert notification["resource"].endswith(f"/Messages/{message_id}")
    assert notification["tenantId"] == m365_sandbox.tenant_id
    assert "subscriptionExpirationDateTime" in notification


def test_an_endpoint_that_does_not_echo_the_token_is_refused(m365_sandbox: M365Sandbox, receiver: Receiver) -> None:
    receiver.echo = False
    with m365_sandbox.graph() as graph:
        refused = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver))

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"
    assert m365_sandbox.state.subscriptions == {}


def test_an_endpoint_slower_than_the_validation_timeout_is_refused(
    m365_sandbox: M365Sandbox, receiver: Receiver
) -> None:
    m365_sandbox.state.config.subscription_validation_timeout_seconds = 0.3
    receiver.delay_seconds = 1.0
    with m365_sandbox.graph() as graph:
        refused = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver))

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"


def test_bad_subscription_requests_are_400(m365_sandbox: M365Sandbox, receiver: Receiver) -> None:
    with m365_sandbox.graph() as graph:
        too_long = graph.post(
            "/subscriptions", json=_subscription(m365_sandbox, receiver, expirationDateTime=_in(20000))
        )
        plain_http = graph.post(
            "/subscriptions", json=_subscription(m365_sandbox, receiver, notificationUrl="http://example.com/hook")
        )
        bad_resource = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver, resource="groups/x"))

    assert [too_long.status_code, plain_http.status_code, bad_resource.status_code] == [400, 400, 400]
    assert receiver.validations == []


def test_renew_delete_and_no_notification_after_delete(m365_sandbox: M365Sandbox, receiver: Receiver) -> None:
    with m365_sandbox.graph() as graph:
        subscription_id = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver)).json()["id"]
        new_expiry = _in(2000)
        renewed = graph.patch(f"/subscriptions/{subscription_id}", json={"expirationDateTime": new_expiry})
        deleted = graph.delete(f"/subscriptions/{subscription_id}")
        gone = graph.get(f"/subscriptions/{subscription_id}")
    m365_sandbox.deliver_email()
    m365_sandbox.notifier.drain()

    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"][:16] == new_expiry[:16]
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert receiver.notifications == []


def test_a_failed_notification_is_retried(m365_sandbox: M365Sandbox, receiver: Receiver) -> None:
    receiver.failures_left = 1
    with m365_sandbox.graph() as graph:
        subscription_id = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver)).json()["id"]
    m365_sandbox.deliver_email()
    deliveries = m365_sandbox.state.subscriptions[subscription_id].deliveries
    m365_sandbox.wait_for(lambda: len(deliveries) == 2)

    assert len(receiver.notifications) == 1
    assert [(d["status"], d["attempt"]) for d in deliveries] == [(500, 1), (202, 2)]


def test_lifecycle_events_reach_the_lifecycle_url(m365_sandbox: M365Sandbox, receiver: Receiver) -> None:
    with m365_sandbox.graph() as graph:
        subscription_id = graph.post("/subscriptions", json=_subscription(m365_sandbox, receiver)).json()["id"]
        reauthorized = graph.post(f"/subscriptions/{subscription_id}/reauthorize")

    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        m365_sandbox.notifier.lifecycle(subscription_id, event)
    m365_sandbox.wait_for(lambda: len(receiver.notifications) == 3)

    events = [n["value"][0]["lifecycleEvent"] for n in receiver.notifications]
    assert events == ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    assert all(n["value"][0]["clientState"] == "s3cret-state" for n in receiver.notifications)
    assert subscription_id not in m365_sandbox.state.subscriptions
    assert reauthorized.status_code == 204
