"""Entra's error answer: `{"error", "error_description": "AADSTSnnnn: ...", "error_codes", "timestamp", "trace_id",
"correlation_id", "error_uri"}` with the status MSAL expects for each kind of refusal."""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse

from emailbot.sandbox.state.tenant import utcnow


class EntraError(Exception):
    def __init__(
        self, status: int, error: str, code: int, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
        return JSONResponse(
            {
                "error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}",
                "error_codes": [self.code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
            status_code=self.status,
            headers=self.headers,
        )
