"""What the operations side keeps in memory per process: API traffic since the last sample, the watermark of the
metrics feed and the client addresses seen. Nothing here imports the runtime, so the runtime can hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emailbot.ops.metrics_feed import MetricsFeed
from emailbot.ops.security import ClientHistory
from emailbot.ops.system import HostSampler, Resources, ResourceSampler


@dataclass
class Traffic:
    """API requests since the monitoring cycle last took them (for availability over any window)."""

    requests: int = 0
    errors: int = 0
    response_ms_sum: float = 0.0

    def record(self, status_code: int, elapsed_ms: float) -> None:
        self.requests += 1
        self.errors += status_code >= 500
        self.response_ms_sum += elapsed_ms

    def take(self) -> Traffic:
        """The counts so far, resetting them (the event loop is single-threaded: nothing is lost in between)."""
        taken = Traffic(self.requests, self.errors, self.response_ms_sum)
        self.requests, self.errors, self.response_ms_sum = 0, 0, 0.0
        return taken


@dataclass
class OpsState:
    traffic: Traffic = field(default_factory=Traffic)
    feed: MetricsFeed = field(default_factory=MetricsFeed)
    clients: ClientHistory = field(default_factory=ClientHistory)
    sampler: ResourceSampler = field(default_factory=HostSampler)
    latest: Resources | None = None  # the monitoring cycle's last reading
    # CPU above its limit alerts only when the previous cycle's reading was above it too: one busy interval (the
    # model training at first start, a backup) is not a resource problem.
    cpu_over_limit: bool = False

    def resources(self, data_dir: Path) -> Resources:
        """The monitoring cycle's last reading, for the KPIs; a reading of its own only before the first cycle.

        Reading again per request would restart the CPU measurement window the monitoring cycle depends on."""
        return self.latest or self.sampler.sample(data_dir)
