"""A new user's first run: `emailbot run --demo`, then an email dropped into the Maildir gets its reply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emailbot.demo import DEMO_MAIL
from tests.e2e.service import Service, wait_for
from tests.factories import rfc822
from tests.fakes.net import free_port

pytestmark = pytest.mark.slow


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("cur/*")) + sorted(folder.glob("new/*"))


def test_demo_then_a_dropped_email_is_answered_and_counted(tmp_path: Path) -> None:
    service = Service(tmp_path, {"EMAILBOT_POLL_INTERVAL_SECONDS": "0.5", "EMAILBOT_LOG_LEVEL": "WARNING"})
    mailbox = tmp_path / "var" / "mailbox"  # the embedded defaults, relative to the working directory
    try:
        service.start("--demo")
        wait_for(
            lambda: service.get("/process/status")["processing_stats"]["total_processed"] >= len(DEMO_MAIL),
            timeout=180,
            what="the demo mail to be processed",
        )
        before = set(_files(mailbox / ".Sent"))
        status_before = service.get("/process/status")["emails_processed_today"]

        raw = rfc822("How do I reset my password?", "Hi, I forgot my password. How can I reset it? Thanks, Ann")
        (mailbox / "tmp" / "dropped.eml").write_bytes(raw)
        (mailbox / "tmp" / "dropped.eml").rename(mailbox / "new" / "dropped.eml")  # how a mail server delivers
        new_replies = wait_for(lambda: set(_files(mailbox / ".Sent")) - before, timeout=120, what="the reply in .Sent")

        (reply_path,) = new_replies
        reply = reply_path.read_bytes()
        assert b"Subject: Re: How do I reset my password?" in reply
        # The reply file is written before the email's row is marked completed: wait for the count, briefly.
        wait_for(
            lambda: service.get("/process/status")["emails_processed_today"] == status_before + 1,
            timeout=120,
            what="the dropped email to be counted",
        )
        listed = service.get("/emails?sender=alice@customer.example")["items"]
        assert listed[0]["action"] == "AUTO_HANDLE"

        health = subprocess.run(
            [sys.executable, "-m", "emailbot.cli", "health", "--url", service.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,  # where the first run left its admin key file, as on an operator's machine
        )
        assert health.returncode == 0, health.stdout + health.stderr
        assert "Health Check passed" in health.stdout
        assert f"Processed today: {status_before + 1}" in health.stdout
        # The first run printed the admin key a new user signs in with, and kept it in a private file.
        assert service.api_key in service.log.read_text()
        assert (tmp_path / "var" / "admin-api-key.txt").stat().st_mode & 0o077 == 0
        assert httpx.get(f"{service.url}/health", timeout=5).json()["status"] == "healthy"
    finally:
        service.stop()


def test_health_command_fails_when_the_api_is_down(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emailbot.cli", "health", "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "not reachable" in result.stderr


# The operations manual's daily_health_check.sh, steps 1 to 3, exactly as the manual writes them.
MANUAL_HEALTH_CHECK = """
API_STATUS=$(curl -s -o /dev/null -w "%{http_code}" http://localhost:PORT/health)
if [ $API_STATUS -eq 200 ]; then
    echo "API is healthy"
else
    echo "API is unhealthy (Status: $API_STATUS)"
fi
curl -s http://localhost:PORT/health/detailed | jq '.components'
curl -s http://localhost:PORT/process/status | jq '.emails_processed_today, .current_queue_size'
"""


def test_the_manuals_daily_health_check_works_as_written(tmp_path: Path) -> None:
    service = Service(tmp_path, {"EMAILBOT_STATUS_PUBLIC": "true", "EMAILBOT_LOG_LEVEL": "WARNING"})
    try:
        service.start("--demo")
        wait_for(
            lambda: service.get("/process/status")["processing_stats"]["total_processed"] >= 15,
            timeout=180,
            what="the demo mail to be processed",
        )
        script = MANUAL_HEALTH_CHECK.replace("PORT", str(service.port))
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
        lines = result.stdout.strip().splitlines()
        assert lines[0] == "API is healthy"
        assert '"database"' in result.stdout
        processed_today, queue = lines[-2:]
        assert int(processed_today) >= 15  # numbers, not the `null null` of a refused call
        assert int(queue) >= 0
        # Only the status counts open up: email content still needs a key.
        assert httpx.get(f"{service.url}/emails", timeout=10).status_code == 401
        # The first start (which trains the model) raises no CPU alert.
        alerts = service.get("/alerts")
        assert not [a for a in alerts["items"] if str(a.get("message", "")).startswith("High CPU")]
    finally:
        service.stop()
