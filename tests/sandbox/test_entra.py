"""The sandbox's Entra side with the real MSAL over HTTPS: secrets, certificates, roles, AADSTS errors."""

from __future__ import annotations

from collections import deque

import jwt
import msal
import pytest
from msal.exceptions import MsalServiceError

from tests.fakes.m365 import GRAPH_SCOPE, M365Sandbox


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def test_msal_gets_an_app_token_with_a_secret_and_the_consented_roles(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_app_permissions(["Mail.ReadWrite", "Mail.Send"])

    result = m365_sandbox.msal_app().acquire_token_for_client(GRAPH_SCOPE)

    claims = _claims(result["access_token"])
    assert claims["roles"] == ["Mail.ReadWrite", "Mail.Send"]
    assert claims["appid"] == m365_sandbox.client_id
    assert claims["appidacr"] == "1"
    assert claims["tid"] == m365_sandbox.tenant_id
    assert claims["aud"] == "https://graph.microsoft.com"
    assert int(claims["exp"]) > int(claims["iat"])  # type: ignore[call-overload]


def test_msal_gets_an_app_token_with_a_certificate_assertion(m365_sandbox: M365Sandbox) -> None:
    result = m365_sandbox.msal_app(certificate=True).acquire_token_for_client(GRAPH_SCOPE)

    assert "access_token" in result, result.get("error_description")
    assert _claims(result["access_token"])["appidacr"] == "2"


def test_a_certificate_the_app_does_not_know_is_refused(m365_sandbox: M365Sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from emailbot.sandbox.pki import ensure_pki

    stranger = ensure_pki(tmp_path / "other")
    app = msal.ConfidentialClientApplication(
        m365_sandbox.client_id,
        client_credential={
            "private_key": stranger.client_certificate_path.read_text(),
            "thumbprint": stranger.client_thumbprint_sha1,
        },
        authority=m365_sandbox.authority,
        instance_discovery=False,
        http_client=m365_sandbox.msal_app().http_client,
    )

    result = app.acquire_token_for_client(GRAPH_SCOPE)

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]


def test_a_wrong_secret_gets_aadsts7000215(m365_sandbox: M365Sandbox) -> None:
    result = m365_sandbox.msal_app(secret="not-the-secret").acquire_token_for_client(GRAPH_SCOPE)

    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215:")


def test_an_unknown_app_gets_aadsts700016(m365_sandbox: M365Sandbox) -> None:
    result = m365_sandbox.msal_app(client_id="11111111-2222-3333-4444-555555555555").acquire_token_for_client(
        GRAPH_SCOPE
    )

    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]


def test_an_unknown_tenant_fails_discovery_with_aadsts90002(m365_sandbox: M365Sandbox) -> None:
    with m365_sandbox.graph() as client:
        response = client.get(f"{m365_sandbox.origin}/not-a-tenant/v2.0/.well-known/openid-configuration")

    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_a_scope_without_default_is_refused_for_client_credentials(m365_sandbox: M365Sandbox) -> None:
    result = m365_sandbox.msal_app().acquire_token_for_client(["https://graph.microsoft.com/Mail.Read"])

    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]


def test_no_roles_claim_when_nothing_is_consented(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_app_permissions([])

    result = m365_sandbox.msal_app().acquire_token_for_client(GRAPH_SCOPE)

    assert "roles" not in _claims(result["access_token"])


def test_token_endpoint_outages_on_demand(m365_sandbox: M365Sandbox) -> None:
    # MSAL holds back the same request for Retry-After seconds after a 429/5xx (5 s without the header).
    m365_sandbox.state.set_faults(token_fail_next=[503], retry_after_seconds=0)
    app = m365_sandbox.msal_app()

    with pytest.raises(MsalServiceError, match="503"):  # MSAL raises on 5xx from the token endpoint
        app.acquire_token_for_client(GRAPH_SCOPE)
    recovered = app.acquire_token_for_client(GRAPH_SCOPE)

    assert "access_token" in recovered
    assert m365_sandbox.state.faults.token_fail_next == deque()
