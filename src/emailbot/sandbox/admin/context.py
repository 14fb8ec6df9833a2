"""What every admin API handler works on: the tenant's state and the notifier (for lifecycle events on demand)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from emailbot.sandbox.graph.notifier import Notifier
from emailbot.sandbox.state import SandboxState


@dataclass(frozen=True)
class Admin:
    state: SandboxState
    notifier: Notifier


AdminHandler = Callable[[Admin, Request], Awaitable[Response]]
