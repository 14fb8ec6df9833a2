"""An HTTP client for the API of a real runtime (real database, real Maildir, real classifier), in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from emailbot.api.app import create_app
from emailbot.runtime import Runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, run_engine=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
