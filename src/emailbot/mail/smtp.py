"""Deliver composed replies through an SMTP relay (the team's mail server or a submission service).

Failures are reported as MailboxError with `permanent` set the way a retry loop needs it: a 5xx answer
will not change on retry, a 4xx answer or a network failure may. One case is neither: the connection breaks
after the message was handed over and before the server's verdict. The relay may or may not have accepted it,
so that is DeliveryStateUnknown, which is permanent because resending could deliver the reply twice.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib
from pydantic import SecretStr

from emailbot.mail.base import MailboxError
from emailbot.settings import Settings

log = logging.getLogger(__name__)

IMPLICIT_TLS_PORT = 465
"""SMTPS: TLS from the first byte instead of STARTTLS (RFC 8314)."""


class DeliveryStateUnknown(MailboxError):
    """The relay may have accepted the message: never retried automatically, a person has to check."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class SmtpRelay:
    """One SMTP connection per delivery: replies are rare enough that pooling would only add failure modes."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: SecretStr | str | None = None,
        *,
        starttls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        self.starttls = starttls
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpRelay(host={self.host!r}, port={self.port}, username={self.username!r}, password=***)"

    async def deliver(self, message: EmailMessage) -> None:
        """Hand `message` to the relay for its To/Cc/Bcc recipients (Bcc not shown), enveloped from its From."""
        sender, recipients = envelope_of(message)
        client = self._client()
        await self._connect(client)
        try:
            await self._send(client, sender, recipients, wire_bytes(message))
        finally:
            await _close_quietly(client)
        log.info("reply delivered via %s:%s to %d recipient(s)", self.host, self.port, len(recipients))

    def _client(self) -> aiosmtplib.SMTP:
        implicit_tls = self.port == IMPLICIT_TLS_PORT
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password.get_secret_value() if self._password else None,
            use_tls=implicit_tls,
            start_tls=self.starttls and not implicit_tls,
            timeout=self.timeout,
        )

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        """Connect, TLS and log in. Nothing has been sent yet, so every failure here is safe to retry."""
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            await _close_quietly(client)
            raise _refusal(f"SMTP relay {self.host}:{self.port} refused the session", exc) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _close_quietly(client)
            raise MailboxError(f"cannot reach SMTP relay {self.host}:{self.port}: {_describe(exc)}") from exc

    async def _send(self, client: aiosmtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> None:
        """The envelope, then DATA. Only a failure with no answer to DATA leaves the outcome unknown."""
        try:
            await client.mail(sender, options=[] if data.isascii() else ["BODY=8BITMIME"])
            await _announce_recipients(client, recipients)
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal(f"SMTP relay {self.host}:{self.port} refused the envelope", exc) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            failure = f"SMTP relay {self.host}:{self.port} failed before DATA: {_describe(exc)}"
            raise MailboxError(failure) from exc
        try:
            await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal(f"SMTP relay {self.host}:{self.port} refused the message", exc) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryStateUnknown(
                f"connection to SMTP relay {self.host}:{self.port} failed while transferring the message "
                f"({_describe(exc)}): it may or may not have been delivered"
            ) from exc


async def _announce_recipients(client: aiosmtplib.SMTP, recipients: list[str]) -> None:
    """RCPT each recipient; go on when some are accepted (logged), fail when none is."""
    refusals: list[aiosmtplib.SMTPRecipientRefused] = []
    for recipient in recipients:
        try:
            await client.rcpt(recipient)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refusals.append(exc)
    if len(refusals) == len(recipients):
        raise _all_refused(refusals)
    if refusals:
        log.warning("SMTP relay refused %d of %d recipients", len(refusals), len(recipients))


def envelope_of(message: EmailMessage) -> tuple[str, list[str]]:
    """Envelope sender and recipients from the headers (Bcc included, as an SMTP client does)."""
    from_header = message["From"]
    senders = getattr(from_header, "addresses", ())
    if not senders:
        raise MailboxError("message has no From address", permanent=True)
    recipients = [
        address.addr_spec
        for name in ("To", "Cc", "Bcc")
        for header in message.get_all(name, [])
        for address in getattr(header, "addresses", ())
    ]
    if not recipients:
        raise MailboxError("message has no recipients", permanent=True)
    return senders[0].addr_spec, recipients


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, no Bcc. Serialised with the message's own policy (aiosmtplib's
    send_message would impose its own), so headers that fold themselves (References) keep their folding."""
    outgoing = copy.copy(message)  # shallow: deleting a header below rebinds the copy's header list only
    del outgoing["Bcc"]
    return outgoing.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _refusal(context: str, exc: aiosmtplib.SMTPResponseException) -> MailboxError:
    return MailboxError(f"{context}: {exc.code} {exc.message}", permanent=500 <= exc.code < 600)


def _all_refused(refusals: Sequence[aiosmtplib.SMTPRecipientRefused]) -> MailboxError:
    details = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
    permanent = all(500 <= r.code < 600 for r in refusals)
    return MailboxError(f"SMTP relay refused every recipient ({details})", permanent=permanent)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _close_quietly(client: aiosmtplib.SMTP) -> None:
    """QUIT if possible. Once the message is accepted, a failure to say goodbye changes nothing."""
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


def relay_from_settings(settings: Settings) -> SmtpRelay | None:
    """The configured relay, or None when EMAILBOT_SMTP_HOST is unset (replies then only land in Sent)."""
    if not settings.smtp_host:
        return None
    return SmtpRelay(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_username,
        settings.smtp_password,
        starttls=settings.smtp_starttls,
    )
