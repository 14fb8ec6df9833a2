"""Assembles the sandbox (Entra + Graph + admin API) and serves it over HTTPS with uvicorn, in a thread or not."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emailbot.sandbox.admin.routes import admin_routes
from emailbot.sandbox.entra.endpoints import Entra
from emailbot.sandbox.graph.notifier import Notifier
from emailbot.sandbox.graph.pipeline import GraphRequest, GraphResponse, GraphService, Router
from emailbot.sandbox.graph.routes import build_router
from emailbot.sandbox.pki import SandboxPki, ensure_pki
from emailbot.sandbox.state import SandboxConfig, SandboxState
from emailbot.sandbox.tokens import TokenService

GRAPH_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


class Sandbox:
    """The whole fake tenant: state, token service, notifier and the ASGI app serving them."""

    def __init__(self, state_dir: Path, config: SandboxConfig | None = None) -> None:
        self.pki: SandboxPki = ensure_pki(state_dir)
        self.state = SandboxState(config)
        self.state.register_app(self.state.config.client_id, certificate_pem=self.pki.client_certificate_pem)
        self.tokens = TokenService(self.pki.signing_key_pem, self.state.config.tenant_id)
        self.graph = GraphService(self.state, self.tokens, Router())
        build_router(self.graph)
        self.notifier = Notifier(self.state)
        self.entra = Entra(self.state, self.tokens)
        self.app = Starlette(
            routes=[
                *admin_routes(self.state, self.notifier),
                Route("/v1.0/{path:path}", self._graph_endpoint, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
                *self.entra.routes(),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.notifier.start()
        try:
            yield
        finally:
            self.notifier.stop()

    async def _graph_endpoint(self, request: Request) -> Response:
        graph_request = GraphRequest(
            method=request.method,
            path="/" + request.path_params["path"],
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            base_url=f"{request.url.scheme}://{request.url.netloc}/v1.0",
        )
        return _http_response(await self.graph.handle(graph_request), request)


def _http_response(response: GraphResponse, request: Request) -> Response:
    headers = dict(response.headers)
    headers.setdefault("request-id", str(uuid.uuid4()))
    headers["client-request-id"] = request.headers.get("client-request-id", headers["request-id"])
    if isinstance(response.body, bytes):
        return Response(response.body, status_code=response.status, headers=headers, media_type=response.media_type)
    if response.body is None:
        return Response(status_code=response.status, headers=headers)
    return JSONResponse(response.body, status_code=response.status, headers=headers, media_type=GRAPH_JSON)


class SandboxServer:
    """Serves a `Sandbox` over HTTPS on host:port (port 0 picks a free one) from a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
        # response (headers and body in two TLS records) waits 40 ms for the client's delayed ACK.
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)  # connections made before uvicorn is up wait in the backlog instead of failing
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        pki = sandbox.pki
        config = uvicorn.Config(
            sandbox.app,
            ssl_certfile=str(pki.server_cert_path),
            ssl_keyfile=str(pki.server_key_path),
            log_level="warning",
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = _HangUpServer(config)
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def settings(self) -> dict[str, str]:
        """The EmailBot settings that point the Graph connector at this sandbox (secret credential)."""
        return sandbox_settings(self.sandbox, self.origin)

    def serve_forever(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="m365-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the M365 sandbox did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._socket.close()


class _HangUpServer(uvicorn.Server):
    """Stops at once: clients' idle keep-alive TLS connections would otherwise hold a graceful shutdown, and
    uvicorn's 100 ms polling of should_exit adds up over a test suite."""

    async def main_loop(self) -> None:
        # uvicorn looks at should_exit every 100 ms; tests start and stop a sandbox each, so look every 10 ms
        # and keep uvicorn's own once-a-100-ms tick (Date header, request limits).
        ticks = 0
        should_exit = await self.on_tick(0)
        while not should_exit:
            await asyncio.sleep(0.01)
            ticks += 1
            should_exit = self.should_exit or (ticks % 10 == 0 and await self.on_tick((ticks // 10) % 864000))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)


def sandbox_settings(sandbox: Sandbox, origin: str) -> dict[str, str]:
    config = sandbox.state.config
    return {
        "EMAILBOT_MAILBOX": "graph",
        "EMAILBOT_GRAPH_TENANT_ID": config.tenant_id,
        "EMAILBOT_GRAPH_CLIENT_ID": config.client_id,
        "EMAILBOT_GRAPH_CLIENT_SECRET": config.client_secret,
        "EMAILBOT_GRAPH_AUTHORITY_URL": origin,
        "EMAILBOT_GRAPH_BASE_URL": f"{origin}/v1.0",
        "EMAILBOT_GRAPH_CA_BUNDLE": str(sandbox.pki.ca_path),
        "EMAILBOT_GRAPH_MAILBOX": config.mailbox,
    }


def certificate_settings(sandbox: Sandbox) -> dict[str, str]:
    """The alternative to the secret: the app's certificate credential (private key + certificate, PEM)."""
    return {
        "EMAILBOT_GRAPH_CLIENT_CERTIFICATE": str(sandbox.pki.client_certificate_path),
        "EMAILBOT_GRAPH_CLIENT_CERTIFICATE_THUMBPRINT": sandbox.pki.client_thumbprint_sha1,
    }
