"""The admin API's faults and measurements: inject failures, expire tokens and delta links, read the request log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emailbot.sandbox.admin.context import Admin


async def faults(admin: Admin, request: Request) -> Response:
    state = admin.state
    if request.method == "PUT":
        state.set_faults(**(await request.json()))
    elif request.method == "DELETE":
        state.clear_faults()
    return JSONResponse(state.faults.as_json())


async def expire_tokens(admin: Admin, request: Request) -> Response:
    state = admin.state
    state.expire_all_tokens()
    return JSONResponse({"expired_before": state.expired_tokens_before})


async def expire_delta(admin: Admin, request: Request) -> Response:
    state = admin.state
    state.expire_delta_tokens()
    return JSONResponse({"expired": True})


async def requests(admin: Admin, request: Request) -> Response:
    state = admin.state
    if request.method == "DELETE":
        state.reset_request_log()
    with state.lock:
        log = [e.as_json() for e in state.request_log[-int(request.query_params.get("last", "200")) :]]
    return JSONResponse(
        {
            "total": state.request_total(),
            "by_route": dict(state.request_counts()),
            "by_route_including_batch_items": dict(state.request_counts(include_batch_items=True)),
            "token_requests": dict(state.token_requests),
            "peak_concurrency": state.peak_concurrency(),
            "log": log,
        }
    )
