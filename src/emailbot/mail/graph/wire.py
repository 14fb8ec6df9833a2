"""What goes over the wire to Graph and back: one request relative to the API root, one parsed response.

Shared by the client, the `$batch` grouping and every caller (the mailbox connector, subscriptions, Teams chats),
so none of them needs the client module just to describe a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """One Graph call, relative to the API root (`/users/...`)."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GraphResponse:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, raw bytes for other content, None when empty

    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


def parsed_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.content
    return response.content


def never_sent(exc: httpx.TransportError) -> bool:
    """A connection that was never made sent nothing; any later transport failure may have reached Graph."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
