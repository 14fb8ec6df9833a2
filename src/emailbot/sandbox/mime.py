"""MIME ⇄ the fields of a Graph message, with the standard library's email package."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def as_graph(self) -> dict[str, dict[str, str]]:
        return {"emailAddress": {"name": self.name or self.address, "address": self.address}}

    def formatted(self) -> str:
        return email.utils.formataddr((self.name, self.address)) if self.name else self.address


@dataclass
class ParsedMail:
    subject: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    body_type: str = "text"
    body: str = ""
    internet_message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    sent: dt.datetime | None = None
    has_attachments: bool = False
    importance: str = "normal"


def parse_mime(raw: bytes) -> ParsedMail:
    # compat32 keeps headers as strings: the modern policy's header objects cost ~10 ms a message, which a burst
    # of a thousand deliveries would feel. Encoded words are decoded explicitly below.
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    body_type, body = _body(message)
    return ParsedMail(
        subject=_decoded(message.get("Subject")),
        sender=_first(_addresses(message, "From")),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        body_type=body_type,
        body=body,
        internet_message_id=_decoded(message.get("Message-ID")).strip(),
        in_reply_to=_decoded(message.get("In-Reply-To")).strip(),
        references=_decoded(message.get("References")).split(),
        headers=[(name, _decoded(value)) for name, value in message.items()],
        sent=_date(message),
        has_attachments=any(_is_attachment(part) for part in message.walk()),
        importance=_importance(message),
    )


def build_mime(
    *,
    sender: Address,
    to: list[Address],
    cc: list[Address],
    subject: str,
    body_type: str,
    body: str,
    message_id: str,
    in_reply_to: str = "",
    references: list[str] | None = None,
    sent: dt.datetime | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> bytes:
    """The raw MIME Exchange would hold for a message composed through Graph (drafts, replies, sendMail)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender.formatted()
    if to:
        message["To"] = ", ".join(a.formatted() for a in to)
    if cc:
        message["Cc"] = ", ".join(a.formatted() for a in cc)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(sent or dt.datetime.now(dt.UTC))
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in extra_headers or []:
        message[name] = value
    message.set_content(body, subtype="html" if body_type == "html" else "plain")
    return message.as_bytes()


def conversation_key(parsed: ParsedMail) -> str:
    """The thread's root Message-ID: Exchange groups a reply with the message it answers."""
    if parsed.references:
        return parsed.references[0]
    return parsed.in_reply_to or parsed.internet_message_id


def conversation_id_for(root: str) -> str:
    return "AAQkA" + hashlib.sha256(root.encode()).hexdigest()[:40]


def html_to_text(markup: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return extractor.text()


def text_to_html(text: str) -> str:
    return "<html><body><div>" + html.escape(text).replace("\n", "<br>") + "</div></body></html>"


def body_preview(body_type: str, body: str) -> str:
    text = html_to_text(body) if body_type == "html" else body
    return re.sub(r"\s+", " ", text).strip()[:255]


class _TextExtractor(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in self._BREAKS:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._parts.append(data)

    def text(self) -> str:
        joined = "".join(self._parts)
        return re.sub(r"\n\s*\n+", "\n\n", joined).strip()


def _decoded(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeDecodeError):
        return str(value)


def _addresses(message: Message, header: str) -> list[Address]:
    values = [str(v) for v in message.get_all(header) or []]
    return [Address(_decoded(name), address) for name, address in email.utils.getaddresses(values) if address]


def _first(addresses: list[Address]) -> Address | None:
    return addresses[0] if addresses else None


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    return disposition == "attachment" or (disposition != "inline" and bool(part.get_filename()))


def _body(message: Message) -> tuple[str, str]:
    """The HTML part if there is one, else the plain text part (what Outlook shows as the body)."""
    candidates = [p for p in message.walk() if not p.is_multipart() and not _is_attachment(p)]
    for wanted in ("text/html", "text/plain"):
        for part in candidates:
            if part.get_content_type() == wanted:
                return ("html" if wanted == "text/html" else "text"), _text(part)
    return "text", ""


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _date(message: Message) -> dt.datetime | None:
    value = message.get("Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _importance(message: Message) -> str:
    value = str(message.get("Importance", "") or message.get("X-Priority", "")).strip().lower()
    if value in {"high", "1", "2"} or value.startswith(("1 ", "2 ")):
        return "high"
    if value in {"low", "5", "4"} or value.startswith(("5 ", "4 ")):
        return "low"
    return "normal"
