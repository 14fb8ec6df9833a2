"""The error every operations command reports as one line (kept apart so the CLI imports it cheaply)."""

from __future__ import annotations


class OpsError(Exception):
    """An operations command cannot go on; the message says why and what to do."""
