"""Who is asking Entra: the registered app a request names, its credentials (form fields or a Basic header), and
the origin the request came to (the sandbox's issuer and endpoints are built from it)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from starlette.requests import Request

from emailbot.sandbox.entra.errors import EntraError
from emailbot.sandbox.state import App, SandboxState


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (what OAuth clients send), parsed with the standard library."""
    return dict(
        urllib.parse.parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    )


def origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def registered_app(state: SandboxState, client_id: str) -> App:
    with state.lock:
        app = state.apps.get(client_id)
    if app is None:
        raise EntraError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{state.config.tenant_domain}'. This can happen if the application has not been installed by "
            "the "
            "administrator of the tenant or consented to by any user in the tenant. You may have sent your "
            "authentication request to the wrong tenant.",
        )
    return app
