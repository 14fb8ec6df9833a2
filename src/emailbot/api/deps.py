"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> AsyncIterator[AsyncSession]:
    """The request's own transaction: committed when the handler returns, rolled back if it raises."""
    async with runtime.db.transaction() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# Committed as soon as the handler returns, before the response goes out: a failed commit is an error response,
# not a 200, and the audit entry written after the call does not wait on this transaction's locks.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
