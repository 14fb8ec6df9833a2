"""Delegated sign-in: device codes waiting for a person (or a test) to approve them, and the refresh tokens issued
after; the endpoints are in `emailbot.sandbox.entra.delegated`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from emailbot.sandbox.state.directory import Directory
from emailbot.sandbox.state.tenant import SandboxConfig


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    approved_user_id: str | None = None
    denied: bool = False
    polls: int = 0


@dataclass
class RefreshGrant:
    client_id: str
    user_id: str
    scopes: list[str]


class SignIns(Directory):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.device_codes: dict[str, DeviceCode] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}

    def pending_device_codes(self) -> list[DeviceCode]:
        with self.lock:
            now = time.time()
            return [
                c
                for c in self.device_codes.values()
                if c.approved_user_id is None and not c.denied and c.expires_at > now
            ]

    def approve_device_code(self, user_code: str | None = None, *, user: str | None = None) -> DeviceCode:
        """Signs `user` (the service account by default) in for a pending device code (the only one when no code)."""
        with self.lock:
            code = self._pending_code(user_code)
            code.approved_user_id = self.user(user or self.config.service_account).id
            return code

    def deny_device_code(self, user_code: str | None = None) -> DeviceCode:
        with self.lock:
            code = self._pending_code(user_code)
            code.denied = True
            return code

    def revoke_refresh_tokens(self) -> None:
        """Like an admin revoking sessions: every refresh token stops working (invalid_grant)."""
        with self.lock:
            self.refresh_grants.clear()

    def _pending_code(self, user_code: str | None) -> DeviceCode:
        pending = self.pending_device_codes()
        if user_code is not None:
            pending = [c for c in pending if c.user_code == user_code.strip().upper()]
        if len(pending) != 1:
            raise KeyError(f"{len(pending)} pending device codes match {user_code!r}")
        return pending[0]
