"""The client-credentials grant: an app signs in as itself with its secret or a certificate assertion and gets a
Graph token carrying its consented application permissions (`roles`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from emailbot.sandbox.entra.clients import basic_credentials, origin, registered_app
from emailbot.sandbox.entra.errors import EntraError
from emailbot.sandbox.state import App, SandboxState
from emailbot.sandbox.tokens import (
    ASSERTION_TYPE,
    GRAPH_APP_ID,
    GRAPH_AUDIENCE,
    AssertionRejected,
    TokenService,
    verify_client_assertion,
)


class ClientCredentials:
    def __init__(self, state: SandboxState, tokens: TokenService) -> None:
        self.state = state
        self.tokens = tokens

    def grant(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret")
        basic = basic_credentials(request)
        if basic is not None:
            client_id, secret = basic
        app = registered_app(self.state, client_id)
        scope = fields.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        resource = scope.removesuffix("/.default").rstrip("/")
        if resource not in {GRAPH_AUDIENCE, GRAPH_APP_ID}:
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.state.config.tenant_domain}.",
            )
        credential_kind = self._authenticate(request, app, secret, fields)
        claims: dict[str, Any] = {
            "appid": app.client_id,
            "app_displayname": app.display_name,
            "appidacr": credential_kind,
            "idp": self.tokens.issuer,
            "idtyp": "app",
            "oid": app.service_principal_id,
            "sub": app.service_principal_id,
        }
        if app.roles:  # Entra leaves the claim out when no application permission is consented
            claims["roles"] = sorted(app.roles)
        lifetime = self.state.config.token_lifetime_seconds
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.tokens.issue(claims, lifetime),
        }

    def _authenticate(self, request: Request, app: App, secret: str | None, fields: dict[str, str]) -> str:
        """Checks the secret or the certificate assertion; returns `appidacr` ("1" secret, "2" certificate)."""
        assertion = fields.get("client_assertion")
        if assertion:
            if fields.get("client_assertion_type") != ASSERTION_TYPE:
                raise EntraError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            token_endpoint = f"{origin(request)}{request.url.path}"
            with self.state.lock:
                certificates = list(app.certificates)
            aliases = {
                token_endpoint,
                token_endpoint.replace(request.path_params["tenant"], self.state.config.tenant_id),
            }
            last: AssertionRejected | None = None
            for endpoint in aliases:
                try:
                    verify_client_assertion(assertion, app.client_id, endpoint, certificates)
                    return "2"
                except AssertionRejected as exc:
                    last = exc
            assert last is not None
            raise EntraError(401, "invalid_client", last.code, last.description)
        if not secret:
            raise EntraError(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            )
        with self.state.lock:
            known = secret in app.secrets
        if not known:
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{app.client_id}'.",
            )
        return "1"
