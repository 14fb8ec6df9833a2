"""Structured logs: JSON lines with the request and email ids, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from emailbot.api.app import create_app
from emailbot.logs import REQUEST_ID, configure_logging, email_context
from emailbot.runtime import Runtime
from tests.api_clients import admin_client


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Logging configured as the service does it, into a buffer; the previous set-up restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("INFO", "json")
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_the_email_id_and_mask_secrets(log_lines: io.StringIO) -> None:
    log = logging.getLogger("emailbot.test")
    token = REQUEST_ID.set("req-42")
    try:
        with email_context(7):
            log.warning("calling the API with Authorization: Bearer abc.def.ghi and password=hunter2")
        log.info("outside the email")
    finally:
        REQUEST_ID.reset(token)
    first, second = _lines(log_lines)
    assert first["level"] == "WARNING"
    assert first["logger"] == "emailbot.test"
    assert first["request_id"] == "req-42"
    assert first["email_id"] == 7
    assert "abc.def.ghi" not in str(first["message"])
    assert "hunter2" not in str(first["message"])
    assert "email_id" not in second


async def test_a_request_logs_with_its_request_id(runtime: Runtime, log_lines: io.StringIO) -> None:
    app = create_app(runtime, run_engine=False)

    @app.get("/_log_probe")
    async def probe() -> dict[str, str]:
        logging.getLogger("emailbot.probe").info("handled the probe")
        return {"ok": "yes"}

    async with admin_client(runtime, app) as client:
        response = await client.get("/_log_probe", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    [line] = [entry for entry in _lines(log_lines) if entry["logger"] == "emailbot.probe"]
    assert line["request_id"] == "abc-123"
