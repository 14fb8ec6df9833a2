"""A generic JSON webhook, signed so the receiver can tell it came from EmailBot and is not a replay.

Headers: `X-EmailBot-Timestamp` (Unix seconds), `X-EmailBot-Signature: sha256=<hex>` where the hex is
HMAC-SHA256(secret, "<timestamp>.<raw body>"), and `X-EmailBot-Delivery` (the same on every retry of one notice,
for de-duplication). A receiver recomputes the HMAC over the raw body and rejects timestamps older than 5 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict
from typing import Any

from emailbot.notify.base import EscalationNotice
from emailbot.notify.safe_text import plain

SIGNATURE_HEADER = "X-EmailBot-Signature"
TIMESTAMP_HEADER = "X-EmailBot-Timestamp"
DELIVERY_HEADER = "X-EmailBot-Delivery"
EVENT_HEADER = "X-EmailBot-Event"
REPLAY_WINDOW_SECONDS = 300


def generic_payload(notice: EscalationNotice) -> dict[str, Any]:
    escalation = asdict(notice)
    for name in ("subject", "sender", "summary", "reasoning", "resolution"):
        if escalation[name] is not None:
            escalation[name] = plain(str(escalation[name]), 5000)
    return {"event": event_name(notice), "escalation": escalation}


def event_name(notice: EscalationNotice) -> str:
    if notice.resolution is not None:
        return "escalation.resolved"
    return "escalation.follow_up" if notice.follow_up else "escalation.created"


def signed_request(
    body: dict[str, Any], secret: str | None, delivery: str, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: delivery,
        EVENT_HEADER: str(body.get("event", "")),
    }
    if secret:
        headers[SIGNATURE_HEADER] = "sha256=" + signature(secret, timestamp, raw)
    return raw, headers


def signature(secret: str, timestamp: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, raw: bytes, header: str, now: float | None = None) -> bool:
    """For receivers written in Python: constant-time check of the signature and the replay window."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = "sha256=" + signature(secret, timestamp, raw)
    return age <= REPLAY_WINDOW_SECONDS and hmac.compare_digest(expected, header)
