"""The notifier that needs no service: it writes the escalation to the log, for operators and the demo."""

from __future__ import annotations

import logging

from emailbot.notify.base import EscalationNotice

log = logging.getLogger("emailbot.escalations")


class LogNotifier:
    name = "log"

    async def notify(self, notice: EscalationNotice, key: str) -> str:
        # Subject and summary are operator-facing metadata; the body never goes to the log.
        log.warning(
            "escalation %s %r: %s, %s, confidence %.1f, members %s",
            notice.escalation_id,
            notice.name,
            notice.category,
            notice.urgency,
            notice.confidence,
            ", ".join(notice.members) or "(none)",
        )
        return key
