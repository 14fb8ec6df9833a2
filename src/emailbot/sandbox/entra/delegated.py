"""Delegated sign-in for a service account: the device-code flow (a person, or a test, approves the code), the
refresh-token grant, and the user tokens both issue, limited to the delegated permissions the app was granted."""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emailbot.sandbox.entra.clients import form_fields, origin, registered_app
from emailbot.sandbox.entra.errors import EntraError
from emailbot.sandbox.state import App, DeviceCode, RefreshGrant, SandboxState, User
from emailbot.sandbox.tokens import GRAPH_AUDIENCE, TokenService

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


class DelegatedGrants:
    def __init__(self, state: SandboxState, tokens: TokenService) -> None:
        self.state = state
        self.tokens = tokens

    def issuer(self, request: Request) -> str:
        return f"{origin(request)}/{self.state.config.tenant_id}/v2.0"

    async def device_code(self, request: Request) -> Response:
        try:
            fields = await form_fields(request)
            app = registered_app(self.state, fields.get("client_id", ""))
            scopes = fields.get("scope", "").split()
            config = self.state.config
            code = DeviceCode(
                device_code=secrets.token_urlsafe(48),
                user_code="".join(secrets.choice(string.ascii_uppercase) for _ in range(9)),
                client_id=app.client_id,
                scopes=scopes,
                expires_at=time.time() + config.device_code_lifetime_seconds,
            )
            with self.state.lock:
                self.state.device_codes[code.device_code] = code
        except EntraError as exc:
            return exc.response()
        verification = f"{origin(request)}/_sandbox/devicelogin"
        return JSONResponse(
            {
                "user_code": code.user_code,
                "device_code": code.device_code,
                "verification_uri": verification,
                "expires_in": config.device_code_lifetime_seconds,
                "interval": config.device_code_interval_seconds,
                "message": f"To sign in, use a web browser to open the page {verification} and enter the code "
                f"{code.user_code} to authenticate.",
            }
        )

    def device_code_grant(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        app = registered_app(self.state, fields.get("client_id", ""))
        with self.state.lock:
            code = self.state.device_codes.get(fields.get("device_code", ""))
            if code is None or code.client_id != app.client_id:
                raise EntraError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
            code.polls += 1
            if code.expires_at < time.time():
                raise EntraError(
                    400,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. "
                    "This device code has expired.",
                )
            if code.denied:
                raise EntraError(400, "authorization_declined", 70000, "The user declined the sign-in request.")
            if code.approved_user_id is None:
                raise EntraError(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            del self.state.device_codes[code.device_code]
            user = self.state.users[code.approved_user_id]
        return self._delegated_tokens(request, app, user, code.scopes, client_info="client_info" in fields)

    def refresh_grant(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        app = registered_app(self.state, fields.get("client_id", ""))
        with self.state.lock:
            grant = self.state.refresh_grants.get(fields.get("refresh_token", ""))
            if grant is None or grant.client_id != app.client_id:
                raise EntraError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            user = self.state.users[grant.user_id]
        scopes = fields.get("scope", "").split() or grant.scopes
        return self._delegated_tokens(request, app, user, scopes, client_info="client_info" in fields)

    def _delegated_tokens(
        self, request: Request, app: App, user: User, requested: list[str], *, client_info: bool
    ) -> dict[str, Any]:
        """The token response of a user sign-in: access token for Graph, refresh token, OpenID id token."""
        scopes = self._consented_scopes(app, requested)
        lifetime = self.state.config.token_lifetime_seconds
        refresh = secrets.token_urlsafe(64)
        with self.state.lock:
            self.state.refresh_grants[refresh] = RefreshGrant(app.client_id, user.id, requested)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{GRAPH_AUDIENCE}/{s}" for s in scopes),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._access_token(app, user, scopes),
            "refresh_token": refresh,
            "id_token": self._id_token(request, app, user),
        }
        if client_info:
            info = json.dumps({"uid": user.id, "utid": self.state.config.tenant_id}).encode()
            body["client_info"] = base64.urlsafe_b64encode(info).decode().rstrip("=")
        return body

    def _access_token(self, app: App, user: User, scopes: list[str]) -> str:
        claims = {
            "appid": app.client_id,
            "app_displayname": app.display_name,
            "appidacr": "0",
            "idtyp": "user",
            "scp": " ".join(scopes),
            "oid": user.id,
            "sub": user.id,
            "upn": user.user_principal_name,
            "unique_name": user.user_principal_name,
            "name": user.display_name,
        }
        return self.tokens.issue(claims, self.state.config.token_lifetime_seconds)

    def _id_token(self, request: Request, app: App, user: User) -> str:
        now = int(time.time())
        claims = {
            "aud": app.client_id,
            "iss": self.issuer(request),
            "sub": user.id,
            "oid": user.id,
            "preferred_username": user.user_principal_name,
            "name": user.display_name,
            "ver": "2.0",
            "iat": now,
            "nbf": now,
        }
        return self.tokens.issue(claims, self.state.config.token_lifetime_seconds)

    def _consented_scopes(self, app: App, requested: list[str]) -> list[str]:
        names = {s.rsplit("/", 1)[-1] for s in requested if s}
        wanted = {n for n in names if n not in _OIDC_SCOPES}
        if ".default" in wanted:
            wanted.discard(".default")
            wanted |= {p for p in app.delegated_permissions if p not in _OIDC_SCOPES}
        missing = wanted - app.delegated_permissions
        if missing:
            raise EntraError(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID '{app.client_id}'. "
                f"Missing: {', '.join(sorted(missing))}. "
                "Send an interactive authorization request for this user and resource.",
            )
        return sorted(wanted)
