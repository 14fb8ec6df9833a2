"""The M365 sandbox (`emailbot.sandbox`) for tests: a fake tenant on a free loopback HTTPS port, in a thread.

Use the `m365_sandbox` fixture (registered in tests/conftest.py) for a fresh tenant per test::

    def test_something(m365_sandbox: M365Sandbox) -> None:
        message_id = m365_sandbox.deliver_email(subject="Printer broken", body="It smokes.")
        settings = m365_sandbox.settings          # EMAILBOT_GRAPH_* values (secret credential)
        ...                                       # run the real connector against settings
        assert m365_sandbox.state.sent_items()    # then inspect what Graph would hold

or `running_sandbox(state_dir, config)` as a context manager for a custom `SandboxConfig` or a longer life.

What `M365Sandbox` gives (stable API: the connector's tests rely on it):
- `settings` / `certificate_settings`: the environment the connector reads (see `emailbot.sandbox`'s docstring);
  `env(certificate=False)` merges them for `Settings`/`monkeypatch.setenv`.
- `origin`, `base_url` (…/v1.0), `authority` (origin/tenant), `tenant_id`, `client_id`, `client_secret`,
  `mailbox`, `ca_path`, `ssl_context()`, `client_certificate_path`, `client_thumbprint`.
- `msal_app(certificate=False)`: a real MSAL ConfidentialClientApplication wired to the sandbox;
  `public_app()`: a PublicClientApplication for the device-code flow (delegated tokens for the service account);
  `app_token()`: an application token; `graph(token=None)`: an httpx.Client on base_url with the bearer set.
  MSAL talks through `msal_http_client()`, a requests.Session trusting the sandbox CA with trust_env=False:
  MSAL's own `verify=` is ignored by requests whenever REQUESTS_CA_BUNDLE is set in the environment, and an
  httpx.Client is no substitute (it sends MSAL's bytes client assertion as "b'...'").
- `deliver(raw, mailbox=None, folder="inbox")` and `deliver_email(subject=…, body=…, sender=…)`: new mail in the
  inbox (fires change notifications); returns the immutable id.
- `state` (`SandboxState`): `messages_in(folder)`, `sent_items()`, `drafts()`, `message(id)`, `outgoing` (every
  message sent), `duplicate_replies()`, `token_requests`, `chat_list()`, `subscriptions`, `notification_log`,
  `request_counts()`, `request_total()`, `reset_request_log()`, `peak_concurrency(mailbox=None)` (with
  `latency_seconds` > 0, or calls never overlap),
  `set_faults(failure_rate=…, failure_statuses=…, retry_after_seconds=…, latency_seconds=…,
  mailbox_concurrency_limit=…, mailbox_budget_requests=…, mailbox_budget_window_seconds=…, fail_next=[…],
  token_fail_next=[…], seed=…)` (MSAL raises MsalServiceError on a token 5xx and holds back retries for
  Retry-After seconds, 5 without it),
  `clear_faults()`, `expire_all_tokens()`, `expire_delta_tokens()`, `set_app_permissions(roles)`,
  `set_mailbox_enabled(address, enabled=False)`, `restrict_app_to_mailboxes([...])`, `add_user(address)`,
  `add_folder(display_name)`,
  `approve_device_code(user_code=None, user=None)`, `pending_device_codes()`, `revoke_refresh_tokens()`.
- `notifier.lifecycle(subscription_id, "reauthorizationRequired" | "missed" | "subscriptionRemoved")` and
  `notifier.drain()` (wait until queued notifications are posted).
- `wait_for(predicate, timeout=5.0)`: polls a condition with a deadline (no blind sleeps in tests).
"""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from email.header import Header
from pathlib import Path

import httpx
import msal
import pytest
import requests

from emailbot.sandbox.graph.notifier import Notifier
from emailbot.sandbox.server import Sandbox, SandboxServer, certificate_settings
from emailbot.sandbox.state import SandboxConfig, SandboxState

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


class M365Sandbox:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.sandbox: Sandbox = server.sandbox
        self.settings: dict[str, str] = server.settings()
        self.certificate_settings: dict[str, str] = certificate_settings(self.sandbox)

    # ----- where and who ----------------------------------------------------------------------------------------
    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    @property
    def notifier(self) -> Notifier:
        return self.sandbox.notifier

    @property
    def origin(self) -> str:
        return self.server.origin

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def tenant_id(self) -> str:
        return self.state.config.tenant_id

    @property
    def authority(self) -> str:
        return f"{self.origin}/{self.tenant_id}"

    @property
    def client_id(self) -> str:
        return self.state.config.client_id

    @property
    def client_secret(self) -> str:
        return self.state.config.client_secret

    @property
    def mailbox(self) -> str:
        return self.state.config.mailbox

    @property
    def ca_path(self) -> Path:
        return self.sandbox.pki.ca_path

    @property
    def client_certificate_path(self) -> Path:
        return self.sandbox.pki.client_certificate_path

    @property
    def client_thumbprint(self) -> str:
        return self.sandbox.pki.client_thumbprint_sha1

    def env(self, *, certificate: bool = False) -> dict[str, str]:
        if not certificate:
            return dict(self.settings)
        without_secret = {k: v for k, v in self.settings.items() if k != "EMAILBOT_GRAPH_CLIENT_SECRET"}
        return without_secret | self.certificate_settings

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    # ----- clients ----------------------------------------------------------------------------------------------
    def msal_app(
        self, *, certificate: bool = False, client_id: str | None = None, secret: str | None = None
    ) -> msal.ConfidentialClientApplication:
        credential: str | dict[str, str]
        if certificate:
            credential = {
                "private_key": self.client_certificate_path.read_text(),
                "thumbprint": self.client_thumbprint,
            }
        else:
            credential = secret or self.client_secret
        return msal.ConfidentialClientApplication(
            client_id or self.client_id,
            client_credential=credential,
            authority=self.authority,
            instance_discovery=False,
            http_client=self.msal_http_client(),
        )

    def msal_http_client(self) -> requests.Session:
        """What MSAL expects as http_client (requests' interface), trusting the sandbox CA.

        `trust_env=False` because requests lets REQUESTS_CA_BUNDLE override `verify`; an httpx.Client does not fit
        either: it sends MSAL's bytes client assertion as "b'...'"."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_path)
        return session

    def public_app(self) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(
            self.client_id,
            authority=self.authority,
            instance_discovery=False,
            http_client=self.msal_http_client(),
        )

    def app_token(self) -> str:
        result = self.msal_app().acquire_token_for_client(GRAPH_SCOPE)
        if "access_token" not in result:
            raise RuntimeError(f"the sandbox refused a token: {result.get('error_description')}")
        return str(result["access_token"])

    def graph(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            verify=self.ssl_context(),
            headers={"Authorization": f"Bearer {token or self.app_token()}"},
            timeout=30,
        )

    # ----- mail -------------------------------------------------------------------------------------------------
    def deliver(self, raw: bytes, *, mailbox: str | None = None, folder: str = "inbox") -> str:
        return self.state.deliver(raw, mailbox=mailbox, folder=folder)

    def deliver_email(
        self,
        *,
        subject: str = "Hello",
        body: str = "Hello, I need help.",
        sender: str = "Customer <customer@example.com>",
        html: bool = False,
        message_id: str | None = None,
        mailbox: str | None = None,
    ) -> str:
        # Composed by hand: EmailMessage's header objects cost milliseconds a message, felt in 1,000-mail bursts.
        headers = [
            ("From", sender),
            ("To", mailbox or self.mailbox),
            ("Subject", Header(subject, "utf-8").encode() if not subject.isascii() else subject),
            ("Date", email.utils.formatdate(localtime=False)),
            ("Message-ID", message_id or f"<{uuid.uuid4().hex}@example.com>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", f"text/{'html' if html else 'plain'}; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ]
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        return self.deliver(head.encode() + b"\r\n" + body.replace("\n", "\r\n").encode() + b"\r\n", mailbox=mailbox)

    @staticmethod
    def wait_for(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(interval)


@contextlib.contextmanager
def running_sandbox(state_dir: Path, config: SandboxConfig | None = None) -> Iterator[M365Sandbox]:
    server = SandboxServer(Sandbox(state_dir, config))
    server.start()
    try:
        yield M365Sandbox(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def m365_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA and key set per test session: generating RSA keys for every test would be slow."""
    return tmp_path_factory.mktemp("m365-sandbox-pki")


@pytest.fixture
def m365_sandbox(m365_pki_dir: Path) -> Iterator[M365Sandbox]:
    # Fast device-code polling: MSAL waits `interval` seconds between polls.
    with running_sandbox(m365_pki_dir, SandboxConfig(device_code_interval_seconds=1)) as sandbox:
        yield sandbox
