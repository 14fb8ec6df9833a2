"""`GET /metrics` for Prometheus, and the middleware that times every API request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from emailbot.api.deps import RuntimeDep
from emailbot.ops.metrics import HTTP_REQUESTS, HTTP_SECONDS, REGISTRY
from emailbot.runtime import Runtime

router = APIRouter(tags=["system"])


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format; email counts are brought up to date from the database first."""
    async with runtime.db.transaction() as session:
        await runtime.ops.feed.refresh(session)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install_request_metrics(app: FastAPI) -> None:
    app.middleware("http")(_time_request)


async def _time_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        elapsed = time.perf_counter() - started
        # The route's template (/emails/{email_id}), never the raw path: ids would explode the label values.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_SECONDS.labels(route).observe(elapsed)
        runtime: Runtime = request.app.state.runtime
        runtime.ops.traffic.record(status, elapsed * 1000)
