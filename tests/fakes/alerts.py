"""An alert sink that keeps what it is given, so a test can see which alerts a part raised."""

from __future__ import annotations

from emailbot.ops.alerts import Alert


class RecordingAlertSink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def raise_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
