"""Graph settings name the variable when wrong; each common Graph or Entra ID failure becomes one sentence."""

from __future__ import annotations

import os
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from emailbot.mail.graph.errors import (
    GraphError,
    advice_for_graph_error,
    advice_for_missing_roles,
    advice_for_token_error,
    graph_error,
    missing_roles,
)
from emailbot.mail.graph.retry import backoff_delay, retry_after_seconds
from emailbot.settings import SettingsError, load_settings
from emailbot.store.tables import utcnow

GRAPH = {
    "EMAILBOT_MAILBOX": "graph",
    "EMAILBOT_GRAPH_TENANT_ID": "contoso.onmicrosoft.com",
    "EMAILBOT_GRAPH_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    "EMAILBOT_GRAPH_CLIENT_SECRET": "s3cret",
    "EMAILBOT_GRAPH_MAILBOX": "Helpdesk@contoso.com, purchasing@contoso.com,helpdesk@contoso.com",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("EMAILBOT_"):
            monkeypatch.delenv(name)


def test_graph_settings_load_and_list_mailboxes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GRAPH.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.mailbox == "graph"
    assert settings.graph_mailboxes == ("helpdesk@contoso.com", "purchasing@contoso.com")
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"EMAILBOT_GRAPH_TENANT_ID": ""}, "EMAILBOT_GRAPH_TENANT_ID: required when EMAILBOT_MAILBOX=graph"),
        ({"EMAILBOT_GRAPH_MAILBOX": " "}, "EMAILBOT_GRAPH_MAILBOX: required when EMAILBOT_MAILBOX=graph"),
        ({"EMAILBOT_GRAPH_CLIENT_SECRET": None}, "EMAILBOT_GRAPH_CLIENT_SECRET: set EMAILBOT_GRAPH_CLIENT_SECRET or"),
        ({"EMAILBOT_GRAPH_CLIENT_CERTIFICATE": "/no/such.pem"}, "EMAILBOT_GRAPH_CLIENT_CERTIFICATE: no such file"),
        ({"EMAILBOT_GRAPH_BASE_URL": "http://graph"}, "EMAILBOT_GRAPH_BASE_URL: must be an https:// URL"),
        ({"EMAILBOT_GRAPH_MAX_CONCURRENCY": "8"}, "EMAILBOT_GRAPH_MAX_CONCURRENCY: Input should be less than"),
        ({"EMAILBOT_GRAPH_CA_BUNDLE": "/no/ca.pem"}, "EMAILBOT_GRAPH_CA_BUNDLE: no such file"),
    ],
)
def test_wrong_graph_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, str | None], expected: str
) -> None:
    for name, value in (GRAPH | change).items():
        if value is not None:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("description", "fix"),
    [
        ("AADSTS7000215: Invalid client secret provided.", "EMAILBOT_GRAPH_CLIENT_SECRET"),
        ("AADSTS700016: Application with identifier 'x' was not found", "EMAILBOT_GRAPH_CLIENT_ID"),
        ("AADSTS90002: Tenant 'x' not found.", "EMAILBOT_GRAPH_TENANT_ID"),
        ("AADSTS700027: Client assertion failed signature validation.", "EMAILBOT_GRAPH_CLIENT_CERTIFICATE"),
    ],
)
def test_token_errors_become_one_sentence_naming_what_to_fix(description: str, fix: str) -> None:
    advice = advice_for_token_error({"error": "invalid_client", "error_description": description})
    assert fix in advice
    assert description.split(":")[0] in advice
    assert "\n" not in advice


def test_unknown_token_error_keeps_the_first_line_of_entra_ids_description() -> None:
    advice = advice_for_token_error({"error": "invalid_request", "error_description": "AADSTS1: odd\nTrace ID: 1"})
    assert advice == "Entra ID refused the token request: AADSTS1: odd"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "MailboxNotEnabledForRESTAPI", "is not an Exchange Online mailbox"),
        (403, "ErrorAccessDenied", "ApplicationAccessPolicy"),
        (404, "ErrorInvalidUser", "check EMAILBOT_GRAPH_MAILBOX"),
        (401, "InvalidAuthenticationToken", "EMAILBOT_GRAPH_TENANT_ID"),
    ],
)
def test_graph_errors_become_one_sentence(status: int, code: str, expected: str) -> None:
    error = graph_error(status, {"error": {"code": code, "message": "x"}}, "read")
    advice = advice_for_graph_error(error, "helpdesk@contoso.com")
    assert expected in advice
    assert "helpdesk@contoso.com" in advice or status == 401


def test_missing_permissions_are_named() -> None:
    assert missing_roles(("Mail.ReadWrite", "User.Read.All")) == ["Mail.Send"]
    assert missing_roles(("Mail.ReadWrite", "Mail.Send")) == []
    assert "Mail.Send: add it under API permissions" in advice_for_missing_roles(["Mail.Send"])
    assert "Mail.ReadWrite and Mail.Send: add them" in advice_for_missing_roles(["Mail.ReadWrite", "Mail.Send"])


@pytest.mark.parametrize(
    ("status", "permanent", "ambiguous"),
    [(429, False, False), (503, False, False), (504, False, True), (500, False, True), (400, True, False)],
)
def test_which_failures_are_retried_and_which_may_have_happened(status: int, permanent: bool, ambiguous: bool) -> None:
    error = graph_error(status, None, "send")
    assert isinstance(error, GraphError)
    assert (error.permanent, error.ambiguous) == (permanent, ambiguous)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"retry-after": "0"}) == 0
    assert retry_after_seconds({}) is None
    later = format_datetime(utcnow() + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_seconds({"Retry-After": later}) or 0) <= 30
    assert retry_after_seconds({"Retry-After": "soon"}) is None


def test_backoff_honours_retry_after_and_otherwise_grows_with_jitter() -> None:
    assert backoff_delay(5, 2.0) == 2.0
    delays = [backoff_delay(attempt, None) for attempt in (1, 6) for _ in range(200)]
    first, sixth = delays[:200], delays[200:]
    assert max(first) <= 0.5
    assert max(sixth) <= 16
    assert max(sixth) > 2  # grows, and is spread out rather than one fixed value
    assert len(set(sixth)) > 100
