"""Turn an OutgoingMessage into a complete RFC 5322 message, safe to write to disk or hand to an SMTP relay.

Everything that reaches a header here may come from an untrusted email (the subject we reply to, a sender's
display name, the Message-IDs we thread under), so every value is neutralised before it becomes a header:
control and line-break characters turn into spaces, addresses must be plain addr-specs and Message-IDs must be
single `<...>` tokens. A header injection ("Subject: hi\\r\\nBcc: victim") therefore cannot add a header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import Policy
from email.utils import make_msgid

from emailbot.domain import Address, OutgoingMessage

KEY_HEADER = "X-EmailBot-Key"
"""Carries the idempotency key, so a message that was already sent or drafted can be recognised later."""

MAX_REFERENCES = 20
"""References kept in a reply: the thread's root and the most recent ones (RFC 5322 3.6.4 allows trimming)."""

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")
_MSG_ID_IN_TEXT = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_BARE_MSG_ID = re.compile(r"[^<>\s@]+@[^<>\s@]+")
_MAX_MSG_ID_LENGTH = 250
_MAX_BODY_LINE = 998


def compose_reply(message: OutgoingMessage, *, sender: Address, key: str) -> EmailMessage:
    """Build the wire form of a reply or draft from the mailbox `sender`, tagged with the idempotency `key`.

    The message is 7-bit clean (quoted-printable bodies, RFC 2047 headers) so any relay accepts it as is.
    Raises ValueError when there is no valid recipient: that is a caller's bug, not a transient failure.
    """
    if not message.to:
        raise ValueError("a reply needs at least one recipient")
    msg = EmailMessage(policy=policy.default)
    msg["From"] = header_address(sender)
    msg["To"] = [header_address(address) for address in message.to]
    msg["Subject"] = single_line(message.subject)
    msg["Date"] = datetime.now(UTC)
    # The planner's id lets an answer to this reply find its conversation even when References are cut.
    planned = clean_message_ids([message.message_id] if message.message_id else [])[:1]
    msg["Message-ID"] = planned[0] if planned else make_msgid(domain=sender.domain or "emailbot.invalid")
    add_threading_headers(msg, in_reply_to=message.in_reply_to, references=message.references)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # asks Exchange not to answer our answer with an out-of-office
    msg[KEY_HEADER] = single_line(key)
    set_bodies(msg, text=message.body_text, html=message.body_html)
    return msg


def single_line(text: str) -> str:
    """`text` with every control or line-break character run replaced by one space, so it fits one header."""
    return _LINE_BREAKS.sub(" ", text).strip()


def header_address(address: Address) -> HeaderAddress:
    """A header address with a neutralised display name; an addr-spec that is not plain is refused."""
    email = address.email.strip()
    if not _ADDR_SPEC.fullmatch(email):
        raise ValueError(f"not a usable email address: {single_line(email)[:100]!r}")
    return HeaderAddress(display_name=single_line(address.name), addr_spec=email)


def clean_message_ids(values: Iterable[str]) -> list[str]:
    """Every well-formed Message-ID (`<left@right>`) found in `values`, in order and without repeats.

    A value may hold several ids (a raw References header) or one bare id without angle brackets.
    """
    found: list[str] = []
    for value in values:
        tokens = _MSG_ID_IN_TEXT.findall(value) or _bare_message_id(value)
        found.extend(token for token in tokens if len(token) <= _MAX_MSG_ID_LENGTH and token not in found)
    return found


def _bare_message_id(value: str) -> list[str]:
    stripped = value.strip()
    return [f"<{stripped}>"] if _BARE_MSG_ID.fullmatch(stripped) else []


def add_threading_headers(msg: EmailMessage, *, in_reply_to: str | None, references: Sequence[str]) -> None:
    """Set In-Reply-To and References (the original's references followed by the id answered)."""
    parent = clean_message_ids([in_reply_to] if in_reply_to else [])[:1]
    chain = clean_message_ids([*references, *parent])
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    if parent:
        msg["In-Reply-To"] = MessageIdHeader("In-Reply-To", parent)
    if chain:
        msg["References"] = MessageIdHeader("References", chain)


class MessageIdHeader(str):
    """A header value listing Message-IDs that folds only between ids, never inside one.

    The standard library treats In-Reply-To and References as free text and turns an id longer than a line
    (common with Exchange) into RFC 2047 encoded-words, which breaks threading in mail clients. An object with
    `name` and `fold` is stored by the email policy as is and asked to fold itself, under whatever policy
    the message is finally serialised with.
    """

    name: str
    ids: tuple[str, ...]

    def __new__(cls, name: str, ids: Sequence[str]) -> MessageIdHeader:
        header = super().__new__(cls, " ".join(ids))
        header.name = name
        header.ids = tuple(ids)
        return header

    def __getnewargs__(self) -> tuple[str, tuple[str, ...]]:  # type: ignore[override]
        """Lets copy.deepcopy and pickle rebuild the header (str's own version passes only the text)."""
        return (self.name, self.ids)

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 998
        lines = [f"{self.name}:"]
        for msg_id in self.ids:
            if len(lines[-1]) + 1 + len(msg_id) > limit and lines[-1] != f"{self.name}:":
                lines.append("")
            lines[-1] += f" {msg_id}"
        return policy.linesep.join(lines) + policy.linesep


def set_bodies(msg: EmailMessage, *, text: str, html: str | None) -> None:
    """text/plain UTF-8, plus text/html as multipart/alternative when given."""
    msg.set_content(text, subtype="plain", charset="utf-8", cte=_transfer_encoding(text))
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))


def _transfer_encoding(body: str) -> str:
    fits_7bit = body.isascii() and all(len(line) <= _MAX_BODY_LINE for line in body.splitlines())
    return "7bit" if fits_7bit else "quoted-printable"
