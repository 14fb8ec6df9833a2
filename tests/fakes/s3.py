"""A loopback server speaking the part of the S3 REST API an upload uses (PUT Object), for the real boto3 client."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class StoredObject:
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeS3:
    url: str
    objects: dict[str, StoredObject] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that boto3's `Expect: 100-continue` is answered
    store: FakeS3

    def do_PUT(self) -> None:  # noqa: N802 - the http.server interface
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.store.objects[self.path] = StoredObject(body, dict(self.headers.items()))
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')  # noqa: S324 - S3's ETag is an MD5
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the default stderr log
        return


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    store = FakeS3(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"store": store})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store
    finally:
        server.shutdown()
        server.server_close()
