"""The Notifier protocol: one small interface for every way of telling people about an escalation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class EscalationNotice:
    escalation_id: int
    email_id: int
    name: str
    subject: str
    sender: str
    category: str
    confidence: float
    urgency: str
    summary: str
    reasoning: str
    required_expertise: tuple[str, ...]
    members: tuple[str, ...]
    recommended_actions: tuple[str, ...]
    link: str
    follow_up: bool = False
    resolution: str | None = None  # set on the notice that an escalation was resolved: the resolution notes

    @property
    def title(self) -> str:
        if self.resolution is not None:
            return "Resolved"
        return "Follow-up in escalation" if self.follow_up else "Escalation"

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> EscalationNotice:
        """Back from the JSON stored in the outbox."""
        values = dict(raw)
        for name in ("required_expertise", "members", "recommended_actions"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


class NotifyError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    name: str

    async def notify(self, notice: EscalationNotice, key: str) -> str:
        """Deliver the notice; returns a reference (chat id, message id, ...). Raises NotifyError."""
        ...
