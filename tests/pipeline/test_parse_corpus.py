"""The parser on every message of the two shared corpora, and on synthetic pathological input.

Each parse runs in a worker thread under a CPU budget of 2 s of that thread's own CPU time (the same on an idle or a
busy machine) and a wall-clock hang guard: this catches hangs and catastrophic slowdowns (a regex that backtracks),
it is not a benchmark of typical speed. The data is read in place, never copied.
"""

from __future__ import annotations

import csv
import email
import email.policy
import functools
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emailbot.domain import Address, Email, RawMessage
from emailbot.pipeline.parse import MAX_SUBJECT_CHARS, parse_email
from emailbot.pipeline.text import MAX_CLEAN_CHARS
from tests.shared_data import shared_data, shared_files

FLANKER = "eml_fixtures_flanker"
SPAMASSASSIN = "spamassassin_sample"
NOT_MESSAGES = {"README.md", "LICENSE.txt", "index.csv"}
CPU_BUDGET_SECONDS = 2.0
HANG_SECONDS = 120.0


def is_message(path: Path) -> bool:
    return path.is_file() and path.name not in NOT_MESSAGES


def message_files(name: str) -> list[Path]:
    return sorted(path for path in shared_data(name).rglob("*") if is_message(path))


@functools.cache
def index_rows(name: str) -> dict[str, dict[str, str]]:
    folder = shared_data(name)
    with (folder / "index.csv").open(newline="", encoding="utf-8") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def parse_with_hang_guard(raw: bytes, source_id: str) -> Email:
    """parse_email in a worker thread; the test fails if the parse used more than CPU_BUDGET_SECONDS of the
    thread's own CPU time (a catastrophic slowdown, measured the same on an idle or a busy machine), or is still
    running after HANG_SECONDS of wall time (a hang)."""
    outcome: list[Email | BaseException] = []
    cpu_used: list[float] = []

    def work() -> None:
        started = time.thread_time()
        try:
            outcome.append(parse_email(RawMessage(source_id=source_id, raw=raw)))
        except BaseException as exc:  # re-raised below, in the test's own thread
            outcome.append(exc)
        cpu_used.append(time.thread_time() - started)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_SECONDS)
    if worker.is_alive():
        pytest.fail(f"{source_id}: still parsing after {HANG_SECONDS} s")
    assert cpu_used[0] < CPU_BUDGET_SECONDS, f"{source_id}: parsing took {cpu_used[0]:.2f} s of CPU"
    if isinstance(outcome[0], BaseException):
        raise AssertionError(f"{source_id}: parse_email raised") from outcome[0]
    return outcome[0]


def header_section(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


def raw_header(raw: bytes, name: bytes) -> bytes | None:
    """The first value of a header, read with a plain regex: an expectation independent of the parser."""
    match = re.search(rb"^" + name + rb":[ \t]*(.*)$", header_section(raw), re.IGNORECASE | re.MULTILINE)
    return match[1].strip() if match else None


def assert_well_formed(parsed: Email) -> None:
    texts = [parsed.subject, parsed.body_text, parsed.clean_text, parsed.body_html or ""]
    for text in texts + [a.filename for a in parsed.attachments]:
        text.encode("utf-8")  # no lone surrogates
    assert all("\x00" not in text for text in texts[:3])
    assert parsed.received_at.tzinfo is not None
    assert len(parsed.subject) <= MAX_SUBJECT_CHARS
    assert len(parsed.clean_text) <= MAX_CLEAN_CHARS
    assert parsed.importance in {"low", "normal", "high"}
    for attachment in parsed.attachments:
        assert "/" in attachment.content_type
        assert attachment.size >= 0
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
    for message_id in (parsed.message_id, parsed.in_reply_to, parsed.thread_id, *parsed.references):
        assert message_id is None or (message_id.startswith("<") and message_id.endswith(">"))


def test_the_corpora_are_complete() -> None:
    """Every message in each folder is listed in its index.csv and the other way round."""
    for name in (FLANKER, SPAMASSASSIN):
        folder = shared_data(name)
        found = {path.relative_to(folder).as_posix() for path in message_files(name)}
        assert found == set(index_rows(name))
    assert len(message_files(FLANKER)) == 50
    assert len(message_files(SPAMASSASSIN)) == 350


# --- flanker: malformed and tricky MIME ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", shared_files(FLANKER, select=is_message))
def test_flanker_message_parses(path: Path) -> None:
    raw = path.read_bytes()
    parsed = parse_with_hang_guard(raw, path.name)
    assert_well_formed(parsed)
    if raw_header(raw, b"Subject"):
        assert parsed.subject or parsed.parse_error
    if raw_header(raw, b"From"):
        assert parsed.sender is not None


def decoded_size(raw: bytes, filename: str) -> int:
    """The attachment's size as the stdlib decodes it, to check the parser's measurement against."""
    for part in email.message_from_bytes(raw, policy=email.policy.default).walk():
        if part.get_filename() == filename:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return len(payload)
    raise AssertionError(filename)


def flanker(name: str) -> tuple[bytes, Email]:
    raw = shared_data(FLANKER, name).read_bytes()
    return raw, parse_with_hang_guard(raw, name)


def test_flanker_encoded_and_raw_8bit_headers() -> None:
    assert flanker("encoded-header.eml")[1].sender == Address("foo.bar@example.com", "Foo, Bar")
    from_encoding = flanker("from-encoding.eml")[1]
    assert from_encoding.sender is not None
    assert from_encoding.sender.name == "Ingo Lütkebohle"
    gb2312 = flanker("charset-gb2312.eml")[1]
    assert gb2312.subject == "提示：您的企业成员暂时无法登录邮件客户端"
    assert gb2312.sender is not None
    assert gb2312.sender.name == "腾讯企业邮箱"
    malformed = flanker("mailformed-headers.eml")[1]
    assert malformed.sender is not None
    assert malformed.sender.name.startswith("Юникод запрещен")
    assert flanker("spam/broken-headers.eml")[1].subject == "Forget Asking For A Link Exchange…"


def test_flanker_long_header_is_decoded_and_capped() -> None:
    subject = flanker("long-header.eml")[1].subject
    assert subject.startswith("Die heiße Zypernsonne quälte Max und Victoria ja böse auf dem Weg bis zur Küste")
    assert len(subject) == MAX_SUBJECT_CHARS


def test_flanker_endless_nesting_is_cut_and_reported() -> None:
    parsed = flanker("enclosed-endless.eml")[1]
    assert parsed.parse_error is not None
    assert "MIME tree cut" in parsed.parse_error
    assert (parsed.subject, parsed.body_text) == ("Wow", "Hello")


def test_flanker_attachments_are_measured_not_opened() -> None:
    raw, parsed = flanker("attached-pdf.eml")
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("test.pdf", "application/pdf", decoded_size(raw, "test.pdf"))
    ]
    raw, parsed = flanker("mailgun-pic.eml")
    assert [(a.filename, a.size) for a in parsed.attachments] == [("mailgun.png", decoded_size(raw, "mailgun.png"))]
    assert parsed.clean_text == "Мейлган! Хахах!"  # "--" signature cut
    russian = flanker("russian-attachment-yahoo.eml")[1]
    assert russian.attachments[0].filename.startswith("Картинка с очень, очень длинным")
    assert flanker("iphone.eml")[1].attachments[0].is_inline
    outlook = flanker("outlook-express.eml")[1]  # the whole message is one octet-stream
    assert [a.content_type for a in outlook.attachments] == ["application/octet-stream"]
    assert outlook.body_text == ""


@pytest.mark.parametrize(
    "name",
    ["bounce/gmail-invalid-address.eml", "bounce/gmail-no-dns.eml", "bounce/no-mx.eml", "bounce/zed.eml",
     "bounce/mailbox-full.eml", "bounce/office365.eml"],
)  # fmt: skip
def test_flanker_bounces_are_automatic(name: str) -> None:
    assert flanker(name)[1].loop.is_auto_reply


def test_flanker_bodies() -> None:
    assert flanker("8bitmime.eml")[1].body_text == "Превел\n\n123"
    long_link = "http://translate.google.com/translate?sl=de&tl=en&u=http%3A%2F%2Fwww.horizont.at%2Fhome"
    assert long_link in flanker("quoted-printable.eml")[1].body_text  # soft line breaks joined
    quoted = flanker("from-encoding.eml")[1]
    assert "buffer overflow" in quoted.body_text
    assert "buffer overflow" not in quoted.clean_text
    assert quoted.loop.is_bulk  # Precedence: bulk
    torture = flanker("torture.eml")[1]
    assert torture.subject == "Multi-media mail demonstration"
    assert len(torture.attachments) >= 8
    forwarded = flanker("multi-received-headers.eml")[1]
    assert forwarded.thread_id == forwarded.references[0]


# --- SpamAssassin: real mail, ham and spam ------------------------------------------------------------------------


@pytest.mark.parametrize("path", shared_files(SPAMASSASSIN, select=is_message))
def test_spamassassin_message_parses(path: Path) -> None:
    raw = path.read_bytes()
    row = index_rows(SPAMASSASSIN)[path.relative_to(shared_data(SPAMASSASSIN)).as_posix()]
    parsed = parse_with_hang_guard(raw, path.name)
    assert_well_formed(parsed)
    assert parsed.parse_error is None
    assert parsed.sender is not None
    assert "@" in parsed.sender.email
    # a subject whenever the message has one (spam/00498 really has an empty Subject header)
    assert bool(parsed.subject) == bool(raw_header(raw, b"Subject"))
    if row["encoded_word_subject"] == "1":
        assert "=?" not in parsed.subject
    if raw_header(raw, b"List-Id") or (raw_header(raw, b"Precedence") or b"").lower() in (b"bulk", b"list", b"junk"):
        assert parsed.loop.is_bulk
    if row["top_content_type"].startswith("text/"):
        assert parsed.body_text
    if row["top_content_type"] == "text/html":
        assert not re.search(r"<(script|style|td|p|br|div)\b", parsed.body_text, re.IGNORECASE)
        assert parsed.body_html


def test_spamassassin_mailing_lists_are_bulk() -> None:
    """The ILUG, FoRK, zzzzteana, ... lists of easy_ham carry List-Id; most of easy_ham is list mail."""
    easy_ham = [path for path in message_files(SPAMASSASSIN) if path.parent.name == "easy_ham"]
    bulk = [parse_email(RawMessage(path.name, path.read_bytes())).loop.is_bulk for path in easy_ham]
    assert sum(bulk) >= 0.6 * len(easy_ham)


def test_spamassassin_replies_lose_their_quotes() -> None:
    """In ham replies ('Re:' subjects with '>' lines), clean_text keeps the reply and drops the quoted lines."""
    checked = 0
    for path in message_files(SPAMASSASSIN):
        parsed = parse_email(RawMessage(path.name, path.read_bytes()))
        if parsed.subject.lower().startswith("re:") and re.search(r"^>", parsed.body_text, re.MULTILINE):
            assert not re.search(r"^\s*>", parsed.clean_text, re.MULTILINE), path.name
            assert len(parsed.clean_text) < len(parsed.body_text)
            checked += 1
    assert checked >= 40


# --- synthetic pathological input ---------------------------------------------------------------------------------


def message(body: bytes, *headers: bytes) -> bytes:
    """Extra headers come first, so they win over the defaults (the parser reads a header's first occurrence)."""
    return b"\r\n".join([*headers, b"From: a@example.com", b"Subject: stress"]) + b"\r\n\r\n" + body


def nested_multipart(depth: int) -> bytes:
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    return b"From: a@example.com\r\n" + opening + b"Content-Type: text/plain\r\n\r\ndeep\r\n"


PATHOLOGICAL: dict[str, Callable[[], bytes]] = {
    "5 MB of quoted lines": lambda: message(b"answer\r\n" + b"> quoted line of text\r\n" * 250_000),
    "sign-off followed by 1 MB of spaces": lambda: message(b"text\r\nthanks" + b" " * 1_000_000 + b"x\r\n"),
    "1 MB single line": lambda: message(b"a" * 1_000_000),
    "attribution lines 100k times": lambda: message(b"On Monday, John wrote:\r\n" * 100_000),
    "separator lines 100k times": lambda: message(b"--\r\n-----Original Message-----\r\n\r\n" * 100_000),
    "1 MB subject of bad encoded words": lambda: message(
        b"x", b"Subject: " + b"=?x-bad?q?=FF?= =?utf-8?b?@@?=" * 40_000
    ),
    "unterminated encoded words": lambda: message(b"x", b"Subject: " + b"=?utf-8?q?" * 100_000),
    "100k addresses": lambda: message(b"x", b"To: " + b"u@example.com, " * 100_000),
    "100k references": lambda: message(b"x", b"References: " + b" ".join(b"<%d@b>" % n for n in range(100_000))),
    "multipart nested 2000 deep": lambda: nested_multipart(2000),
    "5000 sibling parts": lambda: message(
        b"".join(b"--b\r\nContent-Type: text/html\r\n\r\n<p>part</p>\r\n" for _ in range(5000)) + b"--b--\r\n",
        b'Content-Type: multipart/mixed; boundary="b"',
    ),
    "3 MB of HTML with hidden elements": lambda: message(
        b'<div style="display:none">hidden</div><p>shown</p>' * 60_000, b"Content-Type: text/html"
    ),
    "HTML nested 20000 deep": lambda: message(b"<div>" * 20_000 + b"deep", b"Content-Type: text/html"),
    "unclosed script tags": lambda: message(b"<script>" * 200_000, b"Content-Type: text/html"),
    "8 MB base64 attachment": lambda: message(
        b"--b\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"QUJD" * 2_000_000
        + b"\r\n--b--\r\n",
        b'Content-Type: multipart/mixed; boundary="b"',
    ),
    "invalid bytes in an unknown charset": lambda: message(
        bytes(range(128, 256)) * 20_000, b'Content-Type: text/plain; charset="x-nonsense"'
    ),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_input_neither_hangs_nor_raises(name: str) -> None:
    assert_well_formed(parse_with_hang_guard(PATHOLOGICAL[name](), name))
