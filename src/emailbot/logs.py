"""Logging set-up: one line per event, no secrets and no email bodies at info level."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs full request URLs at info level; they can carry tokens in query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces every check at start-up; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
