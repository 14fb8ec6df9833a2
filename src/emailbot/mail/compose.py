"""Turn an OutgoingMessage into a complete RFC 5322 message, safe to write to disk or hand to an SMTP relay.

Everything that reaches a header here may come from an untrusted email (the subject we reply to, a sender's
display name, the Message-IDs we thread under), so every value is neutralised before it becomes a header:
control and line-break characters turn into spaces, addresses must be plain addr-specs and Message-IDs must be
single `<...>` tokens. A header injection ("Subject: hi\\r\\nBcc: victim") therefore cannot add a header.

The wire form is written directly (`render_reply`) rather than built as an `EmailMessage` under
`policy.default` and serialised: the header registry parses and refolds every header it is given, which cost
~1 ms per reply, about a quarter of the pipeline's CPU (bench/README.md). Plain ASCII headers (nearly all) are
written as they are, folded only at spaces; a value that needs quoting or RFC 2047 encoding is still rendered by the
standard library. Tests compare what a reader parses back with the standard library's own composer.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy, quoprimime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from emailbot.domain import Address, OutgoingMessage

KEY_HEADER = "X-EmailBot-Key"
"""Carries the idempotency key, so a message that was already sent or drafted can be recognised later."""

MAX_REFERENCES = 20
"""References kept in a reply: the thread's root and the most recent ones (RFC 5322 3.6.4 allows trimming)."""

LINE_LIMIT = 78
"""RFC 5322's recommended header line length; every header line written here stays within it when it can."""

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")
_MSG_ID_IN_TEXT = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_BARE_MSG_ID = re.compile(r"[^<>\s@]+@[^<>\s@]+")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
"""A display name that needs neither quoting nor encoding (no `=` or `?`, so it cannot look like an encoded word)."""
_MAX_MSG_ID_LENGTH = 250
_MAX_BODY_LINE = 998
_PARSED = policy.default.clone(refold_source="none")
"""Parses `render_reply`'s output without refolding it, so the EmailMessage serialises to the same header lines."""


def compose_reply(message: OutgoingMessage, *, sender: Address, key: str) -> EmailMessage:
    """The reply as an `EmailMessage` (for the SMTP relay, which needs its headers): `render_reply`, parsed."""
    parsed = message_from_bytes(render_reply(message, sender=sender, key=key), policy=_PARSED)
    assert isinstance(parsed, EmailMessage)
    return parsed


def render_reply(message: OutgoingMessage, *, sender: Address, key: str) -> bytes:
    """The wire form of a reply or draft from the mailbox `sender`, tagged with the idempotency `key`.

    The message is 7-bit clean (quoted-printable bodies, RFC 2047 headers) so any relay accepts it as is; lines
    end in LF, as Maildir files do. Raises ValueError when there is no valid recipient or sender: that is a
    caller's bug, not a transient failure.
    """
    if not message.to:
        raise ValueError("a reply needs at least one recipient")
    headers = [
        ("From", address_list("From", [sender])),
        ("To", address_list("To", message.to)),
        ("Subject", text_header("Subject", single_line(message.subject))),
        ("Date", format_datetime(datetime.now(UTC))),
        ("Message-ID", _message_id(message, sender)),
        *threading_headers(in_reply_to=message.in_reply_to, references=message.references),
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),  # asks Exchange not to answer our answer with an out-of-office
        (KEY_HEADER, text_header(KEY_HEADER, single_line(key))),
        ("MIME-Version", "1.0"),
    ]
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return (head + _bodies(message.body_text, message.body_html)).encode("ascii")


def _message_id(message: OutgoingMessage, sender: Address) -> str:
    """The planner's id when it gave one: it lets an answer to this reply find its conversation even when the
    answer's References are cut."""
    planned = clean_message_ids([message.message_id] if message.message_id else [])[:1]
    return planned[0] if planned else make_msgid(domain=sender.domain or "emailbot.invalid")


def single_line(text: str) -> str:
    """`text` with every control or line-break character run replaced by one space, so it fits one header."""
    return _LINE_BREAKS.sub(" ", text).strip()


def address_list(header: str, addresses: Sequence[Address]) -> str:
    """`Name <addr>, ...` when every display name is plain; otherwise the standard library renders the list.

    Raises ValueError for an addr-spec that is not plain. Names are neutralised (one line) either way.
    """
    pairs = [(single_line(address.name), _checked_addr_spec(address.email)) for address in addresses]
    if all(not name or _ATOMS.fullmatch(name) for name, _ in pairs):
        return _join_folded([f"{name} <{email}>" if name else email for name, email in pairs], len(header) + 2)
    return _registry_text(header, [HeaderAddress(display_name=name, addr_spec=email) for name, email in pairs])


def _checked_addr_spec(address: str) -> str:
    email = address.strip()
    if not _ADDR_SPEC.fullmatch(email) or not email.isascii():
        raise ValueError(f"not a usable email address: {single_line(email)[:100]!r}")
    return email


def text_header(name: str, value: str) -> str:
    """An unstructured header value: plain ASCII as is (folded at spaces when long), anything else encoded."""
    offset = len(name) + 2
    plain = value.isascii() and value.isprintable() and "=?" not in value
    if plain and offset + len(value) <= LINE_LIMIT:
        return value
    if plain and all(len(word) < LINE_LIMIT - offset for word in value.split(" ")):
        return _fold_at_spaces(value, offset)
    return _registry_text(name, value)


def _registry_text(name: str, value: object) -> str:
    """The standard library's own rendering of a header value that needs quoting or RFC 2047 encoding.

    Rare (non-ASCII or unusual names and subjects), so its cost does not matter, and such values come out exactly
    as the standard library has always written them.
    """
    folded: str = policy.default.header_factory(name, value).fold(policy=policy.default)
    return folded[len(name) + 2 :].rstrip("\n")


def _fold_at_spaces(value: str, offset: int) -> str:
    """Fold before a space so that unfolding (removing the line break) gives `value` back exactly."""
    lines: list[str] = []
    line = ""
    limit = LINE_LIMIT - offset
    for index, word in enumerate(value.split(" ")):
        piece = word if index == 0 else f" {word}"
        if line and word and len(line) + len(piece) > limit:
            lines.append(line)
            line, limit = piece, LINE_LIMIT
        else:
            line += piece
    lines.append(line)
    return "\n".join(lines)


def _join_folded(items: Sequence[str], offset: int, separator: str = ",") -> str:
    """Items joined by `separator` and a space, a line break instead of the space where a line would be long."""
    lines = [""]
    width = offset
    for index, item in enumerate(items):
        if index and width + 1 + len(item) > LINE_LIMIT:
            lines[-1] += separator
            lines.append(f" {item}")
            width = len(item) + 1
        else:
            lines[-1] += f"{separator} {item}" if index else item
            width += len(item) + (len(separator) + 1 if index else 0)
    return "\n".join(lines)


def clean_message_ids(values: Iterable[str]) -> list[str]:
    """Every well-formed ASCII Message-ID (`<left@right>`) found in `values`, in order and without repeats.

    A value may hold several ids (a raw References header) or one bare id without angle brackets.
    """
    found: list[str] = []
    for value in values:
        tokens = _MSG_ID_IN_TEXT.findall(value) or _bare_message_id(value)
        found.extend(
            token for token in tokens if len(token) <= _MAX_MSG_ID_LENGTH and token.isascii() and token not in found
        )
    return found


def _bare_message_id(value: str) -> list[str]:
    stripped = value.strip()
    return [f"<{stripped}>"] if _BARE_MSG_ID.fullmatch(stripped) else []


def threading_headers(*, in_reply_to: str | None, references: Sequence[str]) -> list[tuple[str, str]]:
    """In-Reply-To and References (the original's references followed by the id answered).

    Ids are folded only between ids, never inside one: an id longer than a line (common with Exchange) must stay
    one token, or mail clients lose the thread (the standard library would turn it into encoded words).
    """
    parent = clean_message_ids([in_reply_to] if in_reply_to else [])[:1]
    chain = clean_message_ids([*references, *parent])
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    headers = []
    if parent:
        headers.append(("In-Reply-To", parent[0]))
    if chain:
        headers.append(("References", _join_folded(chain, len("References: "), separator="")))
    return headers


def _bodies(text: str, html: str | None) -> str:
    """text/plain UTF-8, plus text/html as multipart/alternative when given (with the MIME headers)."""
    if html is None:
        return _part(text, "plain")
    boundary = _boundary(text, html)
    return (
        f'Content-Type: multipart/alternative;\n boundary="{boundary}"\n\n'
        f"--{boundary}\n{_part(text, 'plain')}\n--{boundary}\n{_part(html, 'html')}\n--{boundary}--\n"
    )


def _part(body: str, subtype: str) -> str:
    # As the standard library's content manager does: LF line ends, a final line end, QP unless plain 7-bit.
    data = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    if _transfer_encoding(body) == "7bit":
        encoding, payload = "7bit", data.decode("ascii")
    else:
        encoding, payload = "quoted-printable", quoprimime.body_encode(data.decode("latin-1"), LINE_LIMIT)
    return f'Content-Type: text/{subtype}; charset="utf-8"\nContent-Transfer-Encoding: {encoding}\n\n{payload}'


def _boundary(*bodies: str) -> str:
    while True:
        boundary = f"==============={secrets.randbits(63):019d}=="
        if not any(boundary in body for body in bodies):
            return boundary


def _transfer_encoding(body: str) -> str:
    fits_7bit = body.isascii() and all(len(line) <= _MAX_BODY_LINE for line in body.splitlines())
    return "7bit" if fits_7bit else "quoted-printable"
