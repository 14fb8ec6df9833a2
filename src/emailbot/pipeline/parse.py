"""RFC 822 bytes to a normalized `Email`, for any input: `parse_email` never raises.

A message that cannot be read becomes an `Email` with `parse_error` set, so the caller stores it and routes it to
a person instead of losing it. Each group of fields is read on its own, so one bad header costs only that field.

Choices worth knowing:
- The MIME tree comes from the stdlib parser with a compat32-based policy that hands header values back raw;
  this module decodes them itself (RFC 2047 words, raw 8-bit bytes, unknown charsets). `policy.default` was
  measured at 1.1 s against 0.16 s on a 3 MB message with 3,000 parts, because it builds a header object for
  every part while parsing, and its lazy header objects raise on malformed values when read.
- Message ids keep their canonical `<...>` form everywhere (message_id, in_reply_to, references, thread_id), so
  they compare equal to what goes into the In-Reply-To and References of a reply.
- The MIME walk stops after `MAX_PARTS` parts or `MAX_DEPTH` levels and then says so in `parse_error`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import TypeVar

from emailbot.domain import Address, Attachment, Email, LoopSignals, RawMessage
from emailbot.pipeline.text import (
    MAX_HTML_CHARS,
    clean_text,
    decode_bytes,
    decode_raw_header,
    decode_words,
    html_to_text,
    normalize_text,
    one_line,
)
from emailbot.pipeline.verdict import server_verdict

MAX_PARTS = 500
MAX_DEPTH = 30
MAX_BODY_CHARS = 4_000_000  # body_text and body_html; clean_text reads the first 2 MB of body_text
MAX_HEADER_CHARS = 16_000  # a header is decoded up to here (one test message has a 210 KB Subject)
MAX_SUBJECT_CHARS = 2_000
MAX_ADDRESSES = 200
MAX_REFERENCES = 100

T = TypeVar("T")

# Any of these makes the input a message; without one it is garbage (the parser would take it all as body).
_MESSAGE_HEADERS = frozenset(
    {"from", "to", "cc", "subject", "date", "message-id", "received", "return-path", "mime-version",
     "content-type", "sender", "reply-to", "in-reply-to", "references", "delivered-to"}
)  # fmt: skip
_SERIOUS_DEFECTS = {
    "MissingHeaderBodySeparatorDefect": "a header line without a colon",
    "StartBoundaryNotFoundDefect": "MIME boundary not found",
    "NoBoundaryInMultipartDefect": "multipart without a boundary",
    "MultipartInvariantViolationDefect": "multipart without parts",
    "InvalidBase64CharactersDefect": "invalid base64 content",
}
_MAILBOX = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")
_NEWLINES = re.compile(r"[\r\n]+")
_ANGLE_ID = re.compile(r"<([^<>]{1,998})>")
_ADDRESS_SPLIT = re.compile(r"[\s<>()\[\],;:\"']+")
_PATH_SPLIT = re.compile(r"[\\/]")
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|wg|tr|rv)\s*:", re.IGNORECASE)
_NEGATIVE = frozenset({"", "no", "false", "0", "off"})
_IMPORTANCE = {
    "high": "high", "highest": "high", "urgent": "high", "1": "high", "2": "high",
    "normal": "normal", "3": "normal", "medium": "normal",
    "low": "low", "lowest": "low", "non-urgent": "low", "4": "low", "5": "low",
}  # fmt: skip
# First match wins: Importance (RFC 2156), X-Priority (most clients), Priority (RFC 2156), X-MSMail-Priority.
_IMPORTANCE_HEADERS = ("importance", "x-priority", "priority", "x-msmail-priority")


class _RawPolicy(Compat32):
    """compat32, except header values come back as the raw strings (8-bit bytes as surrogate escapes).

    compat32 would wrap such values in Header objects that turn the bytes into U+FFFD; kept raw, they can still
    be decoded as UTF-8 or the message's own charset.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawPolicy()


def parse_email(message: RawMessage) -> Email:
    """Parse `message`; on any failure return what could be read, with `parse_error` saying what went wrong."""
    try:
        return _parse(message)
    except Exception as exc:  # the contract: never raise, whatever the bytes (RecursionError, MemoryError, ...)
        return _failed(message, f"unparseable message: {type(exc).__name__}")


def _parse(message: RawMessage) -> Email:
    raw = bytes(message.raw)
    if not raw.strip():
        return _failed(message, "empty message")
    errors: list[str] = []
    try:
        parsed = BytesParser(policy=_POLICY).parsebytes(raw)
    except Exception as exc:  # RecursionError on absurdly nested multiparts: keep headers, body as raw text
        errors.append(f"MIME structure unreadable: {type(exc).__name__}")
        parsed = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    body = _guard(errors, "mime", lambda: _walk_message(parsed), None) or _Body(_Shared())
    if body.shared.truncated:
        errors.append(f"MIME tree cut at {MAX_PARTS} parts or {MAX_DEPTH} levels")
    headers = _Headers(parsed, body.shared.charset)
    if not any(name in headers for name in _MESSAGE_HEADERS):
        errors.append("no RFC 822 headers found")
    errors.extend(_guard(errors, "defects", lambda: _structural_defects(parsed), []))
    email = _build(message, headers, body, errors)
    return email if email.parse_error or _plausible_sender(email) else replace(email, parse_error="invalid From")


def _structural_defects(parsed: Message) -> list[str]:
    """Defects that mean the message is broken, not merely sloppy: such mail goes to a person.

    The stdlib records many harmless defects (a missing closing boundary, base64 padding); only the ones that
    lose or mangle content count here.
    """
    found: dict[str, None] = {}
    for index, part in enumerate(parsed.walk()):
        if index >= MAX_PARTS:
            break
        for defect in getattr(part, "defects", ()):
            name = type(defect).__name__
            if name in _SERIOUS_DEFECTS:
                found[_SERIOUS_DEFECTS[name]] = None
    return list(found)


def _plausible_sender(email: Email) -> bool:
    """A From that is missing or not a mailbox (local@domain.tld) means the message cannot be trusted or answered."""
    return email.sender is None or bool(_MAILBOX.fullmatch(email.sender.email))


def _build(message: RawMessage, headers: _Headers, body: _Body, errors: list[str]) -> Email:
    subject = _guard(errors, "subject", lambda: headers.line("subject")[:MAX_SUBJECT_CHARS], "")
    no_body: tuple[str, str | None] = ("", None)
    body_text, body_html = _guard(errors, "body", lambda: _render(body), no_body)
    forwarded = bool(_FORWARD_SUBJECT.match(subject))
    ids = _guard(errors, "ids", lambda: _thread_ids(headers), _ThreadIds())
    return Email(
        source_id=message.source_id,
        subject=subject,
        sender=_guard(errors, "from", lambda: _sender(headers), None),
        received_at=_guard(errors, "date", lambda: _received_at(message, headers), datetime.now(UTC)),
        body_text=body_text,
        clean_text=_guard(errors, "clean", lambda: clean_text(body_text, forwarded=forwarded), ""),
        body_html=body_html,
        message_id=ids.message_id,
        thread_id=ids.thread_id,
        in_reply_to=ids.in_reply_to,
        references=ids.references,
        reply_to=_guard(errors, "reply-to", lambda: _addresses(headers, "reply-to"), ()),
        to=_guard(errors, "to", lambda: _addresses(headers, "to"), ()),
        cc=_guard(errors, "cc", lambda: _addresses(headers, "cc"), ()),
        importance=_guard(errors, "importance", lambda: _importance(headers), "normal"),
        attachments=tuple(body.attachments),
        loop=_guard(errors, "loop headers", lambda: _loop_signals(headers), LoopSignals()),
        parse_error="; ".join(errors) or None,
    )


def _guard(errors: list[str], label: str, produce: Callable[[], T], default: T) -> T:
    """Run one field group; a failure costs that group only and is recorded for parse_error."""
    try:
        return produce()
    except Exception as exc:
        errors.append(f"{label}: {type(exc).__name__}")
        return default


def _failed(message: RawMessage, error: str) -> Email:
    """The Email for input that yielded nothing: built from the RawMessage alone so that it cannot fail too."""
    try:
        received_at = _as_utc(message.received_at) if message.received_at else datetime.now(UTC)
    except Exception:
        received_at = datetime.now(UTC)
    source_id = getattr(message, "source_id", "")
    return Email(source_id=str(source_id), subject="", sender=None, received_at=received_at, parse_error=error)


# --- headers ---------------------------------------------------------------------------------------------------


class _Headers:
    """The first occurrence of each header, unfolded and decoded on demand ('' when absent)."""

    def __init__(self, message: Message, charset_hint: str | None) -> None:
        self._raw: dict[str, str] = {}
        for name, value in message.raw_items():
            self._raw.setdefault(str(name).strip().lower(), str(value))
        self._hint = charset_hint

    def __contains__(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> str:
        """Unfolded, raw 8-bit bytes decoded, encoded words still encoded (address parsing needs them so)."""
        value = _NEWLINES.sub("", self._raw.get(name, "")[:MAX_HEADER_CHARS])
        return value if value.isascii() else decode_raw_header(value, self._hint)

    def line(self, name: str) -> str:
        return one_line(decode_words(self.raw(name)))


def _addresses(headers: _Headers, name: str) -> tuple[Address, ...]:
    """Split the raw value first and decode display names after: a decoded name may contain a comma."""
    raw = headers.raw(name)
    if not raw.strip():
        return ()
    pairs: list[tuple[str, str]] = _safe(lambda: getaddresses([raw]), [])
    found = [address for pair in pairs[:MAX_ADDRESSES] if (address := _address(*pair))]
    if not found:  # getaddresses gave up (newer Pythons return ('', '') for malformed input): take bare addresses
        tokens = (token for token in _ADDRESS_SPLIT.split(raw) if "@" in token)
        found = [Address(email=token.lower()) for token in list(tokens)[:MAX_ADDRESSES]]
    return tuple(found)


def _address(name: str, email: str) -> Address | None:
    email = "".join(normalize_text(email).split()).lower()
    if not email or len(email) > 320:
        return None
    return Address(email=email, name=one_line(decode_words(name)).strip("\"' "))


def _sender(headers: _Headers) -> Address | None:
    found = _addresses(headers, "from") or _addresses(headers, "sender")
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class _ThreadIds:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_id: str | None = None


def _thread_ids(headers: _Headers) -> _ThreadIds:
    """thread_id: the thread's root as the first References id, else the parent, else the message itself."""
    message_id = next(iter(_ids(headers.raw("message-id"))), None)
    in_reply_to = next(iter(_ids(headers.raw("in-reply-to"))), None)
    references = tuple(dict.fromkeys(_ids(headers.raw("references"))))
    if len(references) > MAX_REFERENCES:  # keep the root and the most recent ancestors
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    thread_id = references[0] if references else in_reply_to or message_id
    return _ThreadIds(message_id, in_reply_to, references, thread_id)


def _ids(value: str) -> list[str]:
    """Ids in canonical `<local@domain>` form; an id written without brackets gets them."""
    found = ["".join(content.split()) for content in _ANGLE_ID.findall(value)]
    if not found:
        found = [token.strip("<>") for token in value.split() if "@" in token]
    return [f"<{normalize_text(content)}>" for content in found if content]


def _importance(headers: _Headers) -> str:
    for name in _IMPORTANCE_HEADERS:
        words = headers.line(name).lower().split()
        if words and (level := _IMPORTANCE.get(words[0].strip("()"))):
            return level
    return "normal"


def _loop_signals(headers: _Headers) -> LoopSignals:
    """The headers that mark machine-sent mail (RFC 3834, RFC 2369, long-standing practice).

    - List-Unsubscribe without List-Id still means a list or newsletter: its value then stands in for list_id.
    - X-Autoreply / X-Autorespond are set by vacation responders: x_autoreply.
    - X-Auto-Response-Suppress is deliberately ignored: it asks *us* not to auto-reply (Exchange puts it on
      ordinary mail), it does not say the message itself is automatic.
    - Return-Path <> is the null sender of bounces and auto-replies (RFC 5321 section 4.5.5).
    - Spam and phishing verdicts of the receiving servers: see `emailbot.pipeline.verdict`.
    """
    verdict, evidence = server_verdict(headers.line)
    return LoopSignals(
        auto_submitted=headers.line("auto-submitted") or None,
        precedence=headers.line("precedence") or None,
        list_id=headers.line("list-id") or headers.line("list-unsubscribe") or None,
        x_autoreply=any(headers.line(name).lower() not in _NEGATIVE for name in ("x-autoreply", "x-autorespond")),
        empty_return_path="return-path" in headers and "".join(headers.raw("return-path").split()) == "<>",
        server_verdict=verdict,
        verdict_evidence=evidence,
    )


def _received_at(message: RawMessage, headers: _Headers) -> datetime:
    if message.received_at is not None:
        return _as_utc(message.received_at)
    try:
        return _as_utc(parsedate_to_datetime(headers.line("date")))
    except Exception:  # absent or unreadable Date: the time we saw it is the best we have
        return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes (and '-0000' dates) are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- MIME tree -------------------------------------------------------------------------------------------------


@dataclass
class _Shared:
    """State of one walk, shared by the per-branch bodies."""

    parts_left: int = MAX_PARTS
    truncated: bool = False
    charset: str | None = None  # first non-ASCII charset declared: a hint for raw 8-bit headers


@dataclass
class _Body:
    """What a (sub)tree holds, in reading order."""

    shared: _Shared
    texts: list[tuple[str, str]] = field(default_factory=list)  # (text/plain or text/html, decoded text)
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    enclosed: _Body | None = None  # the first attached message: its text is the body if there is no other

    def absorb_extras(self, other: _Body) -> None:
        self.attachments.extend(other.attachments)
        self.html = self.html or other.html
        self.enclosed = self.enclosed or other.enclosed


def _walk_message(message: Message) -> _Body:
    body = _Body(_Shared())
    _walk(message, body, 0)
    return body


def _walk(part: Message, body: _Body, depth: int) -> None:
    if body.shared.parts_left <= 0 or depth > MAX_DEPTH:
        body.shared.truncated = True
        return
    body.shared.parts_left -= 1
    content_type = _content_type(part)
    payload = part.get_payload()
    children = [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else None
    if children is None:
        _add_leaf(part, content_type, body, depth)
    elif content_type in ("message/rfc822", "message/global"):
        _add_enclosed(part, content_type, children, body, depth)
    elif content_type.startswith("message/"):  # delivery-status and the like: header blocks, not a message
        body.attachments.append(_attachment(part, content_type, _tree_size(part), _filename(part, body)))
    elif content_type == "multipart/alternative":
        _walk_alternative(children, body, depth)
    else:
        for child in children:
            _walk(child, body, depth + 1)


def _walk_alternative(children: list[Message], body: _Body, depth: int) -> None:
    """Alternatives say the same thing: keep the text of one (plain if it has words, else the last, richest)."""
    options: list[_Body] = []
    for child in children:
        options.append(_Body(body.shared))
        _walk(child, options[-1], depth + 1)
    plain = (o for o in options if any(kind == "text/plain" and text.strip() for kind, text in o.texts))
    chosen = next(plain, None) or next((o for o in reversed(options) if o.texts), None)
    for option in options:
        body.absorb_extras(option)
    if chosen is not None:
        body.texts.extend(chosen.texts)


def _add_enclosed(part: Message, content_type: str, children: list[Message], body: _Body, depth: int) -> None:
    """An attached message is an attachment; the first one's text is kept in case the outer mail has none."""
    inner = children[0] if children else None
    name = _filename(part, body) or _enclosed_name(inner, body)
    body.attachments.append(_attachment(part, content_type, _tree_size(part), name))
    if inner is not None and body.enclosed is None:
        body.enclosed = _Body(body.shared)
        _walk(inner, body.enclosed, depth + 1)


def _enclosed_name(inner: Message | None, body: _Body) -> str:
    subject = _Headers(inner, body.shared.charset).line("subject") if inner is not None else ""
    return _safe_filename(f"{subject[:100]}.eml") if subject else "message.eml"


def _add_leaf(part: Message, content_type: str, body: _Body, depth: int) -> None:
    """Text parts shown inline are body; everything else is an attachment, measured but not opened.

    A text part counts as shown inline when it says so, has no file name, or is the whole message; one with a
    file name (a patch mailed inline) is listed as an attachment too. A multipart whose boundary never shows up
    arrives as a leaf and is read as text.
    """
    filename, disposition = _filename(part, body), _disposition(part)
    is_text = content_type in ("text/plain", "text/html") or content_type.startswith("multipart/")
    inline = disposition == "inline" or (disposition is None and (not filename or depth == 0))
    if filename or not (is_text and inline):
        body.attachments.append(_attachment(part, content_type, _payload_size(part), filename))
    if not (is_text and inline):
        return
    text = _part_text(part, body.shared)
    is_html = content_type == "text/html" or text.lstrip()[:100].lower().startswith(("<html", "<!doctype html"))
    body.texts.append(("text/html" if is_html else "text/plain", text))
    if is_html and body.html is None:
        body.html = text[:MAX_BODY_CHARS]


def _part_text(part: Message, shared: _Shared) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = _charset(part)
    if charset and charset not in ("us-ascii", "ascii", "utf-8") and shared.charset is None:
        shared.charset = charset
    return decode_bytes(data[:MAX_BODY_CHARS], charset)


def _attachment(part: Message, content_type: str, size: int, filename: str) -> Attachment:
    disposition = _disposition(part)
    has_id = any(str(name).lower() == "content-id" for name, _ in part.raw_items())
    is_inline = disposition == "inline" or (disposition is None and has_id)
    return Attachment(filename=filename, content_type=content_type, size=size, is_inline=is_inline)


def _safe(read: Callable[[], T], default: T) -> T:
    """For the stdlib's header helpers, which can raise on malformed parameters."""
    try:
        return read()
    except Exception:
        return default


def _content_type(part: Message) -> str:
    content_type = _safe(lambda: one_line(part.get_content_type()).lower()[:200], "")
    return content_type or "application/octet-stream"


def _disposition(part: Message) -> str | None:
    return _safe(part.get_content_disposition, None)


def _charset(part: Message) -> str | None:
    charset = _safe(part.get_content_charset, None)
    return charset if isinstance(charset, str) else None


def _filename(part: Message, body: _Body) -> str:
    """The decoded file name without any directory part (names like '../x.gif' occur in spam)."""
    raw = _safe(part.get_filename, None)
    if not isinstance(raw, str) or not raw.strip():
        return ""
    text = raw if raw.isascii() else decode_raw_header(raw, body.shared.charset)
    return _safe_filename(decode_words(text))


def _safe_filename(name: str) -> str:
    return one_line(_PATH_SPLIT.split(name)[-1])[:255]


def _payload_size(part: Message) -> int:
    """Size of the decoded payload, else of the raw one."""
    data = _safe(lambda: part.get_payload(decode=True), None)
    if isinstance(data, bytes):
        return len(data)
    raw = part.get_payload()
    return len(raw) if isinstance(raw, str) else 0


def _tree_size(part: Message) -> int:
    """Approximate raw size of an attached message: its headers and leaf payloads, over at most MAX_PARTS parts."""
    total, stack, seen = 0, [part], 0
    while stack and seen < MAX_PARTS:
        current = stack.pop()
        seen += 1
        total += sum(len(str(name)) + len(str(value)) + 2 for name, value in current.raw_items())
        payload = current.get_payload()
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, Message))
        elif isinstance(payload, str):
            total += len(payload)
    return total


def _render(body: _Body) -> tuple[str, str | None]:
    """body_text from the text parts (HTML rendered, within one HTML budget for the whole message)."""
    source = body if body.texts or body.enclosed is None else body.enclosed
    pieces: list[str] = []
    size, html_budget = 0, MAX_HTML_CHARS
    for kind, text in source.texts:
        if kind == "text/html":
            piece, html_budget = html_to_text(text[:html_budget]), max(0, html_budget - len(text))
        else:
            piece = normalize_text(text[:MAX_BODY_CHARS])
        pieces.append(piece)
        size += len(piece)
        if size >= MAX_BODY_CHARS:
            break
    return "\n\n".join(piece for piece in pieces if piece)[:MAX_BODY_CHARS], body.html or source.html
