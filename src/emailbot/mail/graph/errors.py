"""Graph and Entra ID failures, and the one sentence that tells an operator what to fix for each common one."""

from __future__ import annotations

import re
from typing import Any

from emailbot.mail.base import MailboxError

REQUIRED_ROLES = ("Mail.ReadWrite", "Mail.Send")

_AADSTS_ADVICE = {
    "AADSTS7000215": "The client secret is wrong: copy the secret's Value (not its ID) from the app registration's "
    "Certificates & secrets page into EMAILBOT_GRAPH_CLIENT_SECRET.",
    "AADSTS7000222": "The client secret has expired: create a new one under Certificates & secrets and set "
    "EMAILBOT_GRAPH_CLIENT_SECRET.",
    "AADSTS700016": "No application with EMAILBOT_GRAPH_CLIENT_ID exists in tenant EMAILBOT_GRAPH_TENANT_ID: check "
    "both IDs on the app registration's Overview page.",
    "AADSTS90002": "Tenant EMAILBOT_GRAPH_TENANT_ID was not found: use the Directory (tenant) ID from the app "
    "registration's Overview page.",
    "AADSTS900023": "EMAILBOT_GRAPH_TENANT_ID is not a valid tenant: use the Directory (tenant) ID GUID or the "
    "tenant's domain name.",
    "AADSTS700027": "The certificate is not registered for this app: upload the public certificate of "
    "EMAILBOT_GRAPH_CLIENT_CERTIFICATE under Certificates & secrets (and check its thumbprint).",
    "AADSTS7000112": "The application is disabled in the tenant: an administrator must enable it in Enterprise "
    "applications.",
    "AADSTS650057": "The app asks for a permission it was not granted: add the API permissions and grant admin "
    "consent.",
    "AADSTS7000218": "The token request carried no credential: set EMAILBOT_GRAPH_CLIENT_SECRET or "
    "EMAILBOT_GRAPH_CLIENT_CERTIFICATE.",
}


class GraphError(MailboxError):
    """A Graph request failed. `status` is the HTTP status (0 when no answer came); `code` Graph's error code.

    `ambiguous` means the request may have been carried out although no success came back (a gateway timeout,
    a dropped connection after sending): a write must not simply be repeated then.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        permanent: bool = False,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, permanent=permanent)
        self.status = status
        self.code = code
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class GraphAuthError(GraphError):
    """The token endpoint refused: the message is the advice for the operator."""


def graph_error(status: int, body: Any, what: str, *, retry_after: float | None = None) -> GraphError:
    """The GraphError for an error answer: 4xx other than 408/429 are permanent."""
    code, message = error_code_and_message(body)
    transient = status in (408, 429, 500, 502, 503, 504) or status == 0
    text = f"{what}: HTTP {status} {code}: {message}".strip()
    return GraphError(
        text,
        status=status,
        code=code,
        permanent=not transient,
        ambiguous=status in (500, 502, 504),
        retry_after=retry_after,
    )


def error_code_and_message(body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("code", "")), str(error.get("message", ""))[:300]
    return "", str(body)[:300] if body else ""


def advice_for_token_error(result: dict[str, Any]) -> str:
    """One sentence for a failed MSAL token request (its `error` and `error_description`)."""
    description = str(result.get("error_description", ""))
    codes = re.findall(r"AADSTS\d+", description) or [f"AADSTS{c}" for c in result.get("error_codes", [])]
    for code in codes:
        if code in _AADSTS_ADVICE:
            return f"{_AADSTS_ADVICE[code]} ({code})"
    first_line = description.splitlines()[0] if description else str(result.get("error", "unknown error"))
    return f"Entra ID refused the token request: {first_line[:300]}"


def advice_for_graph_error(error: GraphError, mailbox: str) -> str:
    """One sentence for a failed Graph call on `mailbox`."""
    if isinstance(error, GraphAuthError):
        return str(error)
    if error.code == "MailboxNotEnabledForRESTAPI":
        return (
            f"{mailbox} is not an Exchange Online mailbox reachable through Graph (on-premises, inactive or without "
            "a license): use a shared mailbox in Exchange Online for EMAILBOT_GRAPH_MAILBOX."
        )
    if error.code in ("ErrorAccessDenied", "Authorization_RequestDenied", "AccessDenied") or error.status == 403:
        return (
            f"Access to {mailbox} was denied: grant the application permissions Mail.ReadWrite and Mail.Send with "
            "admin consent, and make sure any ApplicationAccessPolicy or RBAC for Applications scope includes "
            "this mailbox."
        )
    if error.code in ("ErrorInvalidUser", "ResourceNotFound", "ErrorItemNotFound") or error.status == 404:
        return f"{mailbox} does not exist in this tenant: check EMAILBOT_GRAPH_MAILBOX."
    if error.code == "InvalidAuthenticationToken" or error.status == 401:
        return (
            "Graph refused the access token: check that EMAILBOT_GRAPH_TENANT_ID is the tenant of the mailbox and "
            "that EMAILBOT_GRAPH_BASE_URL matches EMAILBOT_GRAPH_AUTHORITY_URL's cloud."
        )
    if error.status == 0:
        return f"Graph could not be reached ({error}): check EMAILBOT_GRAPH_BASE_URL, the network and any proxy."
    return f"Graph answered {error.status} {error.code} for {mailbox}: {error}"


def missing_roles(roles: tuple[str, ...]) -> list[str]:
    """The required application permissions absent from a token's roles."""
    return [role for role in REQUIRED_ROLES if role not in roles]


def advice_for_missing_roles(missing: list[str]) -> str:
    names = " and ".join(missing)
    return (
        f"The app lacks the application permission{'s' if len(missing) > 1 else ''} {names}: add "
        f"{'them' if len(missing) > 1 else 'it'} under API permissions (Microsoft Graph, Application) and grant "
        "admin consent."
    )
