"""The tenant every part of the sandbox's state belongs to: its configuration, the one lock, the change sequence,
and the time and id formats Graph uses."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass

DEFAULT_APP_PERMISSIONS = ("Mail.ReadWrite", "Mail.Send", "User.Read.All", "Chat.Create", "Chat.ReadWrite.All")
DEFAULT_DELEGATED_PERMISSIONS = ("User.Read", "Chat.Create", "Chat.ReadWrite", "ChatMessage.Send", "offline_access")


@dataclass
class SandboxConfig:
    """The tenant the sandbox pretends to be. Defaults are stable so printed settings keep working across restarts."""

    tenant_id: str = "5a4c3b2e-1d0f-4e9a-8b7c-6d5e4f3a2b1c"
    tenant_domain: str = "contoso.onmicrosoft.com"
    client_id: str = "0e1d2c3b-4a59-4687-9a6b-c5d4e3f2a1b0"
    client_secret: str = "sandbox~Q8r.x7Vh2Nn4Zp6Lw0Ty3Ks5Md9Fb1Gc"
    app_display_name: str = "EmailBot (sandbox)"
    app_permissions: tuple[str, ...] = DEFAULT_APP_PERMISSIONS
    delegated_permissions: tuple[str, ...] = DEFAULT_DELEGATED_PERMISSIONS
    mailbox: str = "support@contoso.onmicrosoft.com"
    mailbox_display_name: str = "Contoso Support"
    service_account: str = "emailbot-service@contoso.onmicrosoft.com"
    token_lifetime_seconds: int = 3599
    device_code_interval_seconds: int = 5
    device_code_lifetime_seconds: int = 900
    subscription_max_minutes: int = 10080  # Outlook message subscriptions: at most 7 days
    subscription_validation_timeout_seconds: float = 10.0  # Graph waits 10 s for the validation token


class TenantBase:
    """What every resource kind of the state shares. Every public method takes the one (re-entrant) lock, so tests
    may inspect and change the state from their own thread while the server answers requests in its event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._seq = 0

    def next_seq(self) -> int:
        """The next number of the tenant-wide change sequence delta queries compare against."""
        with self.lock:
            self._seq += 1
            return self._seq


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_graph_time(value: str) -> dt.datetime:
    cleaned = value.strip().replace("Z", "+00:00")
    if "." in cleaned:
        head, _, tail = cleaned.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        cleaned = f"{head}.{digits[:6]}{zone}"
    moment = dt.datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def opaque_id(prefix: str) -> str:
    # Graph ids are long URL-safe base64 strings; clients must treat them as opaque.
    return prefix + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")


def new_immutable_id() -> str:
    return opaque_id("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A")


def new_rest_id() -> str:
    return opaque_id("AAMkAGI2TG93AAA")


def new_folder_id() -> str:
    return opaque_id("AAMkAD")
