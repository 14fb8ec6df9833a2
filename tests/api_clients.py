"""HTTP clients for the API of a real runtime (real database, real Maildir, real classifier), in process.

A pytest plugin (see conftest.py), so the tests of every area can use them.

`client` signs every request with an admin key, so tests of other areas need not think about authentication;
`anonymous` sends no key, and `key_for(role)` makes keys for the tests of roles and limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from emailbot.api.app import create_app
from emailbot.auth.keys import Role, create_key
from emailbot.runtime import Runtime

KeyMaker = Callable[[Role], Awaitable[str]]


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime, run_engine=False)


@pytest.fixture
def key_for(runtime: Runtime) -> KeyMaker:
    async def make(role: Role) -> str:
        async with runtime.db.transaction() as session:
            return await create_key(session, f"test {role.value}", role, created_by="test")

    return make


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def client(app: FastAPI, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(runtime, app) as http:
        yield http


@asynccontextmanager
async def admin_client(runtime: Runtime, app: FastAPI | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` (by default the runtime's API without the engine), signed in with a new admin key."""
    async with runtime.db.transaction() as session:
        key = await create_key(session, "test admin", Role.ADMIN, created_by="test")
    transport = httpx.ASGITransport(app=app or create_app(runtime, run_engine=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"X-API-Key": key}) as http:
        yield http
