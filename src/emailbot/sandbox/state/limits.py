"""What tests inject and measure: faults (failures, latency, token failures), Graph's per-mailbox throttling
(4 concurrent calls, a request budget per window), token expiry, and the log of every call these apply to."""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from emailbot.sandbox.state.directory import Directory
from emailbot.sandbox.state.tenant import SandboxConfig


@dataclass
class Faults:
    """Failures on demand. Rates apply to every Graph call (each `$batch` item counts as one call)."""

    failure_rate: float = 0.0
    failure_statuses: tuple[int, ...] = (429, 503, 504)
    retry_after_seconds: int = 1
    latency_seconds: float = 0.0
    mailbox_concurrency_limit: int = 4
    mailbox_budget_requests: int = 10_000
    mailbox_budget_window_seconds: float = 600.0
    fail_next: deque[int] = field(default_factory=deque)  # statuses for the next calls in order; <400 lets one pass
    token_fail_next: deque[int] = field(default_factory=deque)  # statuses for the next token requests (429/5xx)
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "failure_rate": self.failure_rate,
            "failure_statuses": list(self.failure_statuses),
            "retry_after_seconds": self.retry_after_seconds,
            "latency_seconds": self.latency_seconds,
            "mailbox_concurrency_limit": self.mailbox_concurrency_limit,
            "mailbox_budget_requests": self.mailbox_budget_requests,
            "mailbox_budget_window_seconds": self.mailbox_budget_window_seconds,
            "fail_next": list(self.fail_next),
            "token_fail_next": list(self.token_fail_next),
        }


@dataclass
class LoggedRequest:
    at: float
    app_id: str | None
    method: str
    route: str
    path: str
    status: int
    mailbox: str | None
    in_batch: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "app_id": self.app_id,
            "method": self.method,
            "route": self.route,
            "path": self.path,
            "status": self.status,
            "mailbox": self.mailbox,
            "in_batch": self.in_batch,
        }


class Limits(Directory):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.faults = Faults()
        self._random = random.Random()
        self.request_log: list[LoggedRequest] = []
        self.token_requests: Counter[str] = Counter()  # token endpoint calls by grant type
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.peak_in_flight: Counter[tuple[str, str]] = Counter()  # most concurrent calls seen per (app, mailbox)
        self.budget: dict[tuple[str, str], deque[float]] = {}
        self.expired_tokens_before = 0.0

    def set_faults(self, **changes: Any) -> Faults:
        """Changes fault settings by name, e.g. `set_faults(failure_rate=0.2, retry_after_seconds=1)`."""
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault setting {name!r}")
                if name in ("fail_next", "token_fail_next"):
                    value = deque(value)
                elif name == "failure_statuses":
                    value = tuple(value)
                setattr(self.faults, name, value)
            if "seed" in changes:
                self._random.seed(changes["seed"])
            return self.faults

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    def draw_failure(self) -> int | None:
        """The status an injected failure answers for this call, or None."""
        with self.lock:
            if self.faults.fail_next:
                status = self.faults.fail_next.popleft()
                return status if status >= 400 else None
            if self.faults.failure_rate > 0 and self._random.random() < self.faults.failure_rate:
                return self._random.choice(self.faults.failure_statuses)
            return None

    def draw_token_failure(self) -> int | None:
        with self.lock:
            if self.faults.token_fail_next:
                status = self.faults.token_fail_next.popleft()
                return status if status >= 400 else None
            return None

    def enter_mailbox(self, app_id: str, mailbox_id: str) -> str | None:
        """Takes a concurrency slot and a budget unit; returns the throttling reason when refused."""
        with self.lock:
            key = (app_id, mailbox_id)
            if self.in_flight[key] >= self.faults.mailbox_concurrency_limit:
                return "MailboxConcurrency"
            window = self.budget.setdefault(key, deque())
            now = time.monotonic()
            while window and now - window[0] >= self.faults.mailbox_budget_window_seconds:
                window.popleft()
            if len(window) >= self.faults.mailbox_budget_requests:
                return "MailboxBudget"
            window.append(now)
            self.in_flight[key] += 1
            self.peak_in_flight[key] = max(self.peak_in_flight[key], self.in_flight[key])
            return None

    def budget_retry_after(self, app_id: str, mailbox_id: str) -> int:
        with self.lock:
            window = self.budget.get((app_id, mailbox_id))
            if not window:
                return 1
            return max(1, int(self.faults.mailbox_budget_window_seconds - (time.monotonic() - window[0])) + 1)

    def peak_concurrency(self, mailbox: str | None = None) -> int:
        """The most calls any app had in flight at once on the mailbox (throttled calls not counted)."""
        with self.lock:
            user_id = self.user(mailbox).id
            return max((n for (_, m), n in self.peak_in_flight.items() if m == user_id), default=0)

    def leave_mailbox(self, app_id: str, mailbox_id: str) -> None:
        with self.lock:
            self.in_flight[(app_id, mailbox_id)] -= 1

    def expire_all_tokens(self) -> None:
        """Every access token issued until now is rejected as expired (401 InvalidAuthenticationToken)."""
        with self.lock:
            # Tokens carry whole-second `iat`: a token issued this very second must also count as expired.
            self.expired_tokens_before = float(int(time.time()))

    def log_request(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.request_log.append(entry)

    def request_counts(self, *, include_batch_items: bool = False) -> Counter[str]:
        """HTTP requests per route ("GET /users/{id}/messages/{id}"); `$batch` items only when asked."""
        with self.lock:
            return Counter(f"{e.method} {e.route}" for e in self.request_log if include_batch_items or not e.in_batch)

    def request_total(self) -> int:
        """Graph HTTP requests received (a `$batch` counts once, its items not at all)."""
        with self.lock:
            return sum(1 for e in self.request_log if not e.in_batch)

    def reset_request_log(self) -> None:
        with self.lock:
            self.request_log.clear()
            self.token_requests.clear()
            self.peak_in_flight.clear()

    def count_token_request(self, grant_type: str) -> None:
        with self.lock:
            self.token_requests[grant_type] += 1
