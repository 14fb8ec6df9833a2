"""The real EmailBot API served by uvicorn on a loopback port in a background thread, for commands that call it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from emailbot.api.app import create_app
from emailbot.runtime import build_runtime
from emailbot.settings import Settings
from tests.e2e.service import wait_for
from tests.fakes.net import free_port


@contextmanager
def served_app(settings: Settings) -> Iterator[str]:
    """Yields the base URL; the runtime is built inside the server's own event loop and closed with it."""
    port = free_port()
    server: list[uvicorn.Server] = []

    def serve() -> None:
        async def main() -> None:
            app = create_app(build_runtime(settings), run_engine=False)
            server.append(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)))
            await server[0].serve()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(url), timeout=30, interval=0.05, what=f"the API on {url}")
    try:
        yield url
    finally:
        server[0].should_exit = True
        thread.join(timeout=15)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
