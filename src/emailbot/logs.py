"""Logging set-up: one line per event, no secrets and no email bodies at info level.

`EMAILBOT_LOG_FORMAT=json` writes one JSON object per line (for Loki, Elasticsearch, CloudWatch) with the request
id of the API call and the email id being worked on, taken from context variables (or `extra={"email_id": ...}`).
Whatever the format, values that look like credentials are masked before a line is written.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
EMAIL_ID: ContextVar[int | None] = ContextVar("email_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRETS = re.compile(
    r"(?i)(bearer\s+|(?:api[_-]?key|password|secret|token|client_secret|sig)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+"
)


@contextmanager
def email_context(email_id: int) -> Iterator[None]:
    """Every line logged inside carries this email's id."""
    token = EMAIL_ID.set(email_id)
    try:
        yield
    finally:
        EMAIL_ID.reset(token)


def redact(text: str) -> str:
    return SECRETS.sub(r"\1***", text)


class ContextFilter(logging.Filter):
    """Puts the request and email ids on every record (an explicit `extra` wins over the context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        if getattr(record, "email_id", None) is None:
            record.email_id = EMAIL_ID.get()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={value}" for name in ("request_id", "email_id") if (value := getattr(record, name, None))]
        return redact(f"{line} [{' '.join(ids)}]" if ids else line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "email_id"):
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(level: str, log_format: str = "text", log_dir: Path | None = None) -> None:
    """Standard error always; with `log_dir` (EMAILBOT_LOG_DIR) also a file rotated at midnight, which
    `emailbot maintenance` cleans up and `emailbot incident collect` gathers. Both get the same format."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.TimedRotatingFileHandler(
                log_dir / "emailbot.log", when="midnight", utc=True, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
        handler.addFilter(ContextFilter())
    logging.basicConfig(level=level, handlers=handlers, force=True)
    # httpx logs full request URLs at info level; they can carry tokens in query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces every check at start-up; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
