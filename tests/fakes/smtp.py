"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and answers what a test asks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.fakes.net import free_port


class RecordingHandler:
    """Accepts (or answers `answer` to) every message; with `hang_up`, drops the line instead of answering."""

    def __init__(self) -> None:
        self.answer = "250 Message accepted"
        self.hang_up = False
        self.received: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hang_up:
            self.received.append(envelope)
            server.transport.close()
            return "250 never heard"
        if self.answer.startswith("250"):
            self.received.append(envelope)
        return self.answer


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
