"""Loopback webhook receivers that check what they are sent, as Teams Workflows, Slack and a signed-JSON consumer
would: the Workflows envelope and Adaptive Card fields, Slack Block Kit blocks, and the HMAC-SHA256 signature
(computed here independently of EmailBot's code) with its replay window; plus plain JSON (alert webhooks).

Each receiver can be told to fail: a list of status codes to answer with before succeeding, or an outage
(every request gets 503). Requests that break the receiver's contract are answered 400 and kept in `rejected`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ALLOWED_CARD_ELEMENTS = {"TextBlock", "RichTextBlock", "FactSet", "ColumnSet", "Container", "Image"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """One endpoint's script and record."""

    kind: str
    secret: str = ""
    fail_with: list[int] = field(default_factory=list)
    outage: bool = False
    received: list[Received] = field(default_factory=list)
    rejected: list[tuple[Received, str]] = field(default_factory=list)
    hits: int = 0


class WebhookServer:
    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, kind: str, secret: str = "") -> Receiver:
        receiver = Receiver(kind, secret)
        self.receivers[path] = receiver
        return receiver

    def url(self, path: str) -> str:
        return self.base_url + path

    def _answer(self, path: str, request: Received) -> tuple[int, str]:
        with self.lock:
            receiver = self.receivers.get(path)
            if receiver is None:
                return 404, "no such webhook"
            receiver.hits += 1
            if receiver.outage:
                return 503, "service unavailable"
            if receiver.fail_with:
                return receiver.fail_with.pop(0), "scripted failure"
            problem = CHECKS[receiver.kind](request, receiver)
            if problem:
                receiver.rejected.append((request, problem))
                return 400, problem
            receiver.received.append(request)
            return 200, "1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                status, text = server._answer(self.path, request)
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def check_workflow(request: Received, _: Receiver) -> str | None:
    """The Workflows trigger takes {"type": "message", "attachments": [{contentType, content: AdaptiveCard}]}."""
    body = request.json
    if body.get("type") != "message" or not isinstance(body.get("attachments"), list) or not body["attachments"]:
        return "not a message with attachments"
    attachment = body["attachments"][0]
    if attachment.get("contentType") != ADAPTIVE_CARD:
        return "attachment is not an Adaptive Card"
    card = attachment.get("content") or {}
    if card.get("type") != "AdaptiveCard" or card.get("version") not in ("1.2", "1.3", "1.4", "1.5"):
        return "content is not an Adaptive Card of version <= 1.5"
    if "adaptivecards.io/schemas/adaptive-card.json" not in card.get("$schema", ""):
        return "card has no $schema"
    for element in card.get("body", []):
        if element.get("type") not in ALLOWED_CARD_ELEMENTS:
            return f"unknown card element {element.get('type')!r}"
        for inline in element.get("inlines", []):
            if inline.get("type") != "TextRun" or not isinstance(inline.get("text"), str):
                return "RichTextBlock inline is not a TextRun"
    for action in card.get("actions", []):
        if action.get("type") != "Action.OpenUrl" or not str(action.get("url", "")).startswith("http"):
            return "card action is not an OpenUrl with an http(s) URL"
    return None


def check_slack(request: Received, _: Receiver) -> str | None:
    body = request.json
    if not isinstance(body.get("text"), str) or not isinstance(body.get("blocks"), list):
        return "no fallback text or blocks"
    for block in body["blocks"]:
        kind = block.get("type")
        if kind not in ("header", "section", "actions", "context", "divider"):
            return f"unknown block {kind!r}"
        if kind == "header" and block["text"].get("type") != "plain_text":
            return "header text must be plain_text"
        texts = [block.get("text", {})] + block.get("fields", [])
        for text in texts:
            if text and text.get("type") == "mrkdwn" and len(text.get("text", "")) > 3000:
                return "mrkdwn text over 3000 characters"
    return None


def check_signed(request: Received, receiver: Receiver) -> str | None:
    timestamp = request.headers.get("x-emailbot-timestamp", "")
    given = request.headers.get("x-emailbot-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return "timestamp missing or outside the replay window"
    expected = hmac.new(receiver.secret.encode(), timestamp.encode() + b"." + request.raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, f"sha256={expected}"):
        return "bad signature"
    return None


def check_json(request: Received, _: Receiver) -> str | None:
    try:
        body = request.json
    except ValueError:
        return "not JSON"
    return None if isinstance(body, dict) else "not a JSON object"


CHECKS = {"teams_workflow": check_workflow, "slack": check_slack, "generic": check_signed, "json": check_json}


@dataclass
class JsonEndpoint:
    """One plain-JSON endpoint (an alert webhook): the bodies it accepted and how often it was called."""

    url: str
    receiver: Receiver

    @property
    def received(self) -> list[Any]:
        return [request.json for request in self.receiver.received]

    @property
    def attempts(self) -> int:
        return self.receiver.hits

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next `count` requests are answered with `status`, to exercise the sender's retries."""
        self.receiver.fail_with = [status] * count


@pytest.fixture
def webhooks() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def webhook(webhooks: WebhookServer) -> JsonEndpoint:
    return JsonEndpoint(webhooks.url("/alerts"), webhooks.add("/alerts", "json"))
