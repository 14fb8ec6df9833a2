"""The Entra ID (v2.0) endpoints MSAL calls: OpenID discovery, the signing keys, the token endpoint (client
credentials in `app_tokens`, device code and refresh tokens in `delegated`) and the device-code endpoint. Errors
follow Entra's shape (`errors`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emailbot.sandbox.entra.app_tokens import ClientCredentials
from emailbot.sandbox.entra.clients import form_fields, origin
from emailbot.sandbox.entra.delegated import DEVICE_CODE_GRANT, DelegatedGrants
from emailbot.sandbox.entra.errors import EntraError
from emailbot.sandbox.state import SandboxState
from emailbot.sandbox.tokens import TokenService


class Entra:
    def __init__(self, state: SandboxState, tokens: TokenService) -> None:
        self.state = state
        self.tokens = tokens
        self.client_credentials = ClientCredentials(state, tokens)
        self.delegated = DelegatedGrants(state, tokens)

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

    async def openid_configuration(self, request: Request) -> Response:
        try:
            self._check_tenant(request.path_params["tenant"])
        except EntraError as exc:
            return exc.response()
        base = f"{origin(request)}/{self.state.config.tenant_id}"
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
                "userinfo_endpoint": f"{origin(request)}/oidc/userinfo",
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
                return JSONResponse(self.client_credentials.grant(request, fields))
            if grant == DEVICE_CODE_GRANT:
                return JSONResponse(self.delegated.device_code_grant(request, fields))
            if grant == "refresh_token":
                return JSONResponse(self.delegated.refresh_grant(request, fields))
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

    async def device_code(self, request: Request) -> Response:
        try:
            self._check_tenant(request.path_params["tenant"])
        except EntraError as exc:
            return exc.response()
        return await self.delegated.device_code(request)
