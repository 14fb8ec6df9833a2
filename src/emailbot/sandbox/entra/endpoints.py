"""The Entra ID (v2.0) endpoints MSAL calls: OpenID discovery, the token endpoint and the device-code endpoint.

Errors follow Entra's shape: `{"error", "error_description": "AADSTSnnnn: ...", "error_codes", "timestamp",
"trace_id", "correlation_id", "error_uri"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import time
import urllib.parse
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emailbot.sandbox.state import App, DeviceCode, RefreshGrant, SandboxState, User, utcnow
from emailbot.sandbox.tokens import (
    ASSERTION_TYPE,
    GRAPH_APP_ID,
    GRAPH_AUDIENCE,
    AssertionRejected,
    TokenService,
    verify_client_assertion,
)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


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


class Entra:
    def __init__(self, state: SandboxState, tokens: TokenService) -> None:
        self.state = state
        self.tokens = tokens

    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", self.keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/devicecode", self.device_code, methods=["POST"]),
        ]

    # ----- discovery --------------------------------------------------------------------------------------------
    def _check_tenant(self, tenant: str) -> None:
        config = self.state.config
        if tenant.lower() not in {config.tenant_id, config.tenant_domain.lower(), "organizations"}:
            raise EntraError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
                "the correct cloud. Check with your subscription administrator, this may happen if there are no "
                "active subscriptions for the tenant.",
            )

    def issuer(self, request: Request) -> str:
        return f"{_origin(request)}/{self.state.config.tenant_id}/v2.0"

    async def openid_configuration(self, request: Request) -> Response:
        try:
            self._check_tenant(request.path_params["tenant"])
        except EntraError as exc:
            return exc.response()
        base = f"{_origin(request)}/{self.state.config.tenant_id}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{_origin(request)}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "name",
                    "preferred_username",
                    "oid",
                    "tid",
                ],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            }
        )

    async def keys(self, request: Request) -> Response:
        return JSONResponse(self.tokens.jwks())

    # ----- token endpoint ---------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        try:
            self._check_tenant(request.path_params["tenant"])
            self._injected_failure()
            fields = await form_fields(request)
            grant = fields.get("grant_type", "")
            self.state.count_token_request(grant)
            if grant == "client_credentials":
                return JSONResponse(self._client_credentials(request, fields))
            if grant == DEVICE_CODE_GRANT:
                return JSONResponse(self._device_code_grant(request, fields))
            if grant == "refresh_token":
                return JSONResponse(self._refresh_grant(request, fields))
            raise EntraError(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        except EntraError as exc:
            return exc.response()

    def _injected_failure(self) -> None:
        status = self.state.draw_token_failure()
        if status is None:
            return
        retry_after = {"Retry-After": str(self.state.faults.retry_after_seconds)}
        if status == 429:
            raise EntraError(
                429,
                "temporarily_unavailable",
                90055,
                "There are too many incoming requests. Try again later.",
                retry_after,
            )
        raise EntraError(
            status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.", retry_after
        )

    def _app(self, client_id: str) -> App:
        with self.state.lock:
            app = self.state.apps.get(client_id)
        if app is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.state.config.tenant_domain}'. This can happen if the application has not been installed by "
                "the "
                "administrator of the tenant or consented to by any user in the tenant. You may have sent your "
                "authentication request to the wrong tenant.",
            )
        return app

    def _client_credentials(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret")
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, secret = basic
        app = self._app(client_id)
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
        credential_kind = self._authenticate_client(request, app, secret, fields)
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

    def _authenticate_client(self, request: Request, app: App, secret: str | None, fields: dict[str, str]) -> str:
        """Checks the secret or the certificate assertion; returns `appidacr` ("1" secret, "2" certificate)."""
        assertion = fields.get("client_assertion")
        if assertion:
            if fields.get("client_assertion_type") != ASSERTION_TYPE:
                raise EntraError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            token_endpoint = f"{_origin(request)}{request.url.path}"
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

    # ----- delegated: device code and refresh tokens ----------------------------------------------------------
    async def device_code(self, request: Request) -> Response:
        try:
            self._check_tenant(request.path_params["tenant"])
            fields = await form_fields(request)
            app = self._app(fields.get("client_id", ""))
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
        verification = f"{_origin(request)}/_sandbox/devicelogin"
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

    def _device_code_grant(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        app = self._app(fields.get("client_id", ""))
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

    def _refresh_grant(self, request: Request, fields: dict[str, str]) -> dict[str, Any]:
        app = self._app(fields.get("client_id", ""))
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
        scopes = self._consented_scopes(app, requested)
        lifetime = self.state.config.token_lifetime_seconds
        access = self.tokens.issue(
            {
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
            },
            lifetime,
        )
        refresh = secrets.token_urlsafe(64)
        with self.state.lock:
            self.state.refresh_grants[refresh] = RefreshGrant(app.client_id, user.id, requested)
        now = int(time.time())
        id_token = self.tokens.issue(
            {
                "aud": app.client_id,
                "iss": self.issuer(request),
                "sub": user.id,
                "oid": user.id,
                "preferred_username": user.user_principal_name,
                "name": user.display_name,
                "ver": "2.0",
                "iat": now,
                "nbf": now,
            },
            lifetime,
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{GRAPH_AUDIENCE}/{s}" for s in scopes),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
        }
        if client_info:
            info = json.dumps({"uid": user.id, "utid": self.state.config.tenant_id}).encode()
            body["client_info"] = base64.urlsafe_b64encode(info).decode().rstrip("=")
        return body

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


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (what OAuth clients send), parsed with the standard library."""
    return dict(
        urllib.parse.parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    )


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
