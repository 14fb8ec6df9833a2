"""Logging set-up: one line per event, no secrets and no email bodies at info level."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_dir: Path | None = None) -> None:
    """Standard error always; with `log_dir` (EMAILBOT_LOG_DIR) also a file rotated at midnight, which
    `emailbot maintenance` cleans up and `emailbot incident collect` gathers."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.TimedRotatingFileHandler(
                log_dir / "emailbot.log", when="midnight", utc=True, encoding="utf-8"
            )
        )
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    # httpx logs full request URLs at info level; they can carry tokens in query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces every check at start-up; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
