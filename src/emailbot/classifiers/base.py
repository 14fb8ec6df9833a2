"""The Classifier protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from emailbot.domain import Classification, Email


class Classifier(Protocol):
    """Classifies a batch at a time: CPU-bound models are much faster on batches."""

    name: str

    async def classify(self, emails: Sequence[Email]) -> list[Classification]: ...
