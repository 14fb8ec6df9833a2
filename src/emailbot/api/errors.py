"""One error shape for every failure: {"error": {code, message, details, timestamp, request_id}}."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emailbot.logs import REQUEST_ID
from emailbot.store.tables import utcnow

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(request: Request, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": jsonable_encoder(details),
            "timestamp": utcnow().isoformat(),
            "request_id": getattr(request.state, "request_id", None),
        }
    }


def install_error_handling(app: FastAPI) -> None:
    app.middleware("http")(_request_id)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request.state.request_id = supplied if 0 < len(supplied) <= 100 and supplied.isprintable() else uuid.uuid4().hex
    REQUEST_ID.set(request.state.request_id)  # every log line of this request carries it
    response = await call_next(request)
    response.headers[REQUEST_ID_HEADER] = request.state.request_id
    return response


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    body = error_body(request, exc.code, exc.message, exc.details)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = [
        {
            "location": list(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]
    body = error_body(request, "validation_error", "The request is not valid.", details)
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
    body = error_body(request, code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = error_body(request, "internal_error", "An unexpected error occurred; see the server log.")
    return JSONResponse(body, status_code=500)
