"""Run the real `emailbot` service as a subprocess, the way an operator does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.net import free_port

# Hang guards, not expectations: a loaded 2-core machine may take a minute to import, migrate and train at start.
START_TIMEOUT = 240.0


def wait_for(condition: Callable[[], Any], *, timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Service:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {**os.environ, **env, "EMAILBOT_PORT": str(self.port), "EMAILBOT_HOST": "127.0.0.1"}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "service.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *args: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "emailbot.cli", "run", *args],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=START_TIMEOUT, interval=0.1, what=f"the service on {self.url} (log: {self.log})")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"service exited with {self.process.returncode}: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def api_key(self) -> str:
        """The key the service's first run made (written beside the database) or EMAILBOT_API_KEY."""
        if self.env.get("EMAILBOT_API_KEY"):
            return self.env["EMAILBOT_API_KEY"]
        data_dir = Path(self.env.get("EMAILBOT_DATA_DIR") or self.workdir / "var")
        if not data_dir.is_absolute():
            data_dir = self.workdir / data_dir
        return (data_dir / "admin-api-key.txt").read_text(encoding="utf-8").strip()

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", timeout=10, headers={"X-API-Key": self.api_key})
        response.raise_for_status()
        return response.json()

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, exactly what a crash or an OOM kill does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
