"""Escalation latency: from an outage email landing in the mailbox to the Teams chat with its context message and
the webhook delivery, through the real pipeline, MSAL and httpx against the M365 sandbox and a loopback webhook.

    uv run python -m bench.escalations --escalations 30

Each escalation is timed on its own (Maildir file written → `poll_once` + `drain` done, which is when the chat
exists, the message is posted and the webhook answered). Half are follow-ups in an escalated thread (one message
into the existing chat, no new chat). Prints a Markdown table; the sandbox's own request log gives the Graph calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from emailbot.notify.teams_chat import TeamsChatNotifier
from emailbot.runtime import Runtime, build_runtime
from emailbot.sandbox.server import Sandbox, SandboxServer, sandbox_settings
from emailbot.settings import load_settings
from emailbot.store.migrate import upgrade
from emailbot.store.tables import utcnow

MEMBERS = ("incident-manager@example.com", "it-manager@example.com")


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _email(subject: str, reply_to: str | None = None) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = "Ops <ops@customer.example>"
    message["To"] = "helpdesk@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message_id = make_msgid(domain="customer.example")
    message["Message-ID"] = message_id
    if reply_to:
        message["In-Reply-To"] = reply_to
        message["References"] = reply_to
    message.set_content("The whole ERP system is down, all 300 users cannot work. Outage! Please escalate.")
    return message.as_bytes(), message_id


async def _sign_in(runtime: Runtime, sandbox: Sandbox) -> None:
    assert runtime.notifications is not None
    notifier = runtime.notifications.notifiers[0]
    assert isinstance(notifier, TeamsChatNotifier)
    assert notifier.delegated is not None
    login = asyncio.create_task(notifier.delegated[1].login(lambda _: None, timeout=60))
    while not sandbox.state.pending_device_codes():
        await asyncio.sleep(0.02)
    sandbox.state.approve_device_code()
    await login


async def _timed(runtime: Runtime, mailbox: Path, name: str, raw: bytes) -> float:
    (mailbox / "new" / name).write_bytes(raw)
    started = time.perf_counter()
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    return time.perf_counter() - started


async def run(escalations: int, workdir: Path) -> dict[str, object]:
    sandbox = Sandbox(workdir / "sandbox")
    server = SandboxServer(sandbox)
    server.start()
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    try:
        for address in MEMBERS:
            sandbox.state.add_user(address)
        graph = {
            k.removeprefix("EMAILBOT_").lower(): v
            for k, v in sandbox_settings(sandbox, server.origin).items()
            if k.startswith("EMAILBOT_GRAPH_") and k != "EMAILBOT_GRAPH_MAILBOX"
        }
        settings = load_settings(
            database_url=f"sqlite:///{workdir / 'emailbot.db'}",
            local_mailbox_dir=workdir / "mailbox",
            model_dir=workdir / "models",
            data_dir=workdir / "var",
            teams_chats=True,
            notify_webhooks=json.dumps([f"http://127.0.0.1:{webhook.server_address[1]}/hook"]),
            log_level="WARNING",
            **graph,
        )
        await asyncio.to_thread(upgrade, settings.database_url)  # Alembic runs its own event loop
        runtime = build_runtime(settings)
        (workdir / "mailbox" / "new").mkdir(parents=True, exist_ok=True)
        try:
            await _sign_in(runtime, sandbox)
            await _timed(runtime, workdir / "mailbox", "warm-up", _email("Printer question")[0])  # model load
            sandbox.state.reset_request_log()
            opened, followed = [], []
            for index in range(escalations):
                raw, message_id = _email(f"Production database {index} is down")
                opened.append(await _timed(runtime, workdir / "mailbox", f"{index}.a", raw))
                reply, _ = _email(f"Re: Production database {index} is down", reply_to=message_id)
                followed.append(await _timed(runtime, workdir / "mailbox", f"{index}.b", reply))
            requests = sandbox.state.request_counts()
        finally:
            await runtime.close()
    finally:
        webhook.shutdown()
        server.stop()
    return {"opened": opened, "followed": followed, "requests": dict(requests)}


def _row(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median, worst = statistics.median(seconds), max(seconds)
    return f"| {label} | {len(seconds)} | {median * 1000:.0f} | {p95 * 1000:.0f} | {worst * 1000:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emailbot-bench-escalations-") as folder:
        result = asyncio.run(run(options.escalations, Path(folder)))
    opened, followed = result["opened"], result["followed"]
    assert isinstance(opened, list)
    assert isinstance(followed, list)
    print("| escalation | n | median ms | p95 ms | max ms |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    print(_row("new: users looked up, chat created, message posted, webhook", opened))  # noqa: T201
    print(_row("follow-up: message into the same chat, webhook", followed))  # noqa: T201
    print(f"\nGraph requests while measured: {result['requests']}")  # noqa: T201


if __name__ == "__main__":
    main()
