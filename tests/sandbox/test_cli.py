"""`emailbot sandbox` as a user runs it: it prints settings that work with the real MSAL and httpx."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msal
import requests
from typer.testing import CliRunner

from emailbot.cli import app as cli_app


def _read_settings(process: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, str]:
    settings: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while "EMAILBOT_GRAPH_MAILBOX" not in settings:
        assert time.monotonic() < deadline, "no settings printed"
        line = process.stdout.readline()
        assert line, "the sandbox exited before printing its settings"
        if line.startswith("EMAILBOT_"):
            name, _, value = line.strip().partition("=")
            settings[name] = value
    return settings


def test_the_printed_settings_work_with_msal_and_httpx(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    for n in range(2):
        (seed / f"{n}.eml").write_bytes(
            f"From: a@example.com\r\nTo: support@contoso.onmicrosoft.com\r\nSubject: seeded {n}\r\n\r\nhi\r\n".encode()
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emailbot.cli",
            "sandbox",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
            "--seed",
            str(seed),
            "--app-permissions",
            "Mail.ReadWrite,Mail.Send",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        settings = _read_settings(process)
        session = requests.Session()
        session.trust_env = False
        session.verify = settings["EMAILBOT_GRAPH_CA_BUNDLE"]
        app = msal.ConfidentialClientApplication(
            settings["EMAILBOT_GRAPH_CLIENT_ID"],
            client_credential=settings["EMAILBOT_GRAPH_CLIENT_SECRET"],
            authority=f"{settings['EMAILBOT_GRAPH_AUTHORITY_URL']}/{settings['EMAILBOT_GRAPH_TENANT_ID']}",
            instance_discovery=False,
            http_client=session,
        )
        token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        with httpx.Client(
            base_url=settings["EMAILBOT_GRAPH_BASE_URL"],
            verify=ssl.create_default_context(cafile=settings["EMAILBOT_GRAPH_CA_BUNDLE"]),
            headers={"Authorization": f"Bearer {token['access_token']}"},
        ) as graph:
            inbox = graph.get(f"/users/{settings['EMAILBOT_GRAPH_MAILBOX']}/mailFolders/inbox/messages")
            users = graph.get("/users")
        session.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)

    assert settings["EMAILBOT_MAILBOX"] == "graph"
    assert sorted(m["subject"] for m in inbox.json()["value"]) == ["seeded 0", "seeded 1"]
    assert users.status_code == 403  # only the permissions given on the command line
    assert process.returncode in (0, 130)  # 130: uvicorn re-raises the Ctrl-C it shut down on
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_it_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["sandbox", "--host", "0.0.0.0", "--state-dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "loopback" in result.output
