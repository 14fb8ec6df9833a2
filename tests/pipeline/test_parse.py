"""The parser on small hand-written messages: one feature per test, plus properties over arbitrary bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emailbot.domain import Address, Email, RawMessage
from emailbot.pipeline import parse
from emailbot.pipeline.parse import parse_email
from emailbot.pipeline.text import clean_text, decode_bytes, html_to_text

BASE_HEADERS = (
    "From: Alice Example <Alice@Example.COM>",
    "To: support@example.com",
    "Subject: Test",
    "Date: Mon, 08 Jan 2024 10:00:00 +0100",
    "Message-ID: <m1@example.com>",
)


def mail(*headers: str, body: str = "Hello.\n", content_type: str = "text/plain; charset=utf-8") -> bytes:
    """A message; headers given here come first, and the parser reads the first occurrence of a header."""
    lines = [*headers, *BASE_HEADERS, "MIME-Version: 1.0", f"Content-Type: {content_type}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def multipart(subtype: str, *parts: str, headers: tuple[str, ...] = ()) -> bytes:
    body = "".join(f"--b0\r\n{part}\r\n" for part in parts) + "--b0--\r\n"
    return mail(*headers, body=body, content_type=f'multipart/{subtype}; boundary="b0"')


def part(content_type: str, body: str, *headers: str) -> str:
    return "\r\n".join([f"Content-Type: {content_type}", *headers]) + "\r\n\r\n" + body


def parsed(raw: bytes, received_at: datetime | None = None) -> Email:
    return parse_email(RawMessage(source_id="msg-1", raw=raw, received_at=received_at))


# --- headers and charsets -----------------------------------------------------------------------------------------


def test_plain_message_fields() -> None:
    email = parsed(mail(body="Hello, my printer is broken.\n"))
    assert email.source_id == "msg-1"
    assert email.subject == "Test"
    assert email.sender == Address(email="alice@example.com", name="Alice Example")
    assert email.to == (Address(email="support@example.com"),)
    assert email.body_text == email.clean_text == "Hello, my printer is broken."
    assert email.body_html is None
    assert email.parse_error is None


def test_encoded_words_in_subject_and_names() -> None:
    email = parsed(
        mail(
            "Subject: =?UTF-8?B?w5xiZXI=?= =?UTF-8?Q?_die_Br=C3=BCcke?=",
            "From: =?UTF-8?B?Rm9vLCBCYXI=?= <Foo.Bar@Example.com>",
        )
    )
    assert email.subject == "Über die Brücke"
    # the decoded name contains a comma: the address list is split before names are decoded
    assert email.sender == Address(email="foo.bar@example.com", name="Foo, Bar")


def test_multibyte_character_split_across_encoded_words() -> None:
    assert parsed(mail("Subject: =?utf-8?q?=E2=82?= =?utf-8?q?=AC_price?=")).subject == "€ price"


@pytest.mark.parametrize(
    "subject",
    [
        "=?x-klingon?q?caf=C3=A9?=",  # unknown charset, UTF-8 bytes
        "=?utf-8?q?caf=E9?=",  # declared UTF-8, Latin-1 bytes
        "=?base64?q?caf=C3=A9?=",  # a Python codec that is not a text encoding
        "=?utf-8?b?Y2Fmw6k?=",  # base64 without its padding
    ],
)
def test_wrong_or_unknown_charset_in_encoded_word(subject: str) -> None:
    email = parsed(mail(f"Subject: {subject}"))
    assert email.subject == "café"
    assert email.parse_error is None


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("x-unknown", "Grüße aus Köln".encode(), "Grüße aus Köln"),
        ("us-ascii", "café au lait, s'il vous plaît".encode("cp1252"), "café au lait, s'il vous plaît"),
        ("utf-8", "Grüße aus Köln und schöne Grüße".encode("latin-1"), "Grüße aus Köln und schöne Grüße"),
        ("iso-8859-1", "“Smart quotes” – dash".encode("cp1252"), "“Smart quotes” – dash"),
        ("gb2312", "提示：您的企业成员暂时无法登录".encode("gb18030"), "提示：您的企业成员暂时无法登录"),
        ("unicode-escape", b"caf\\u00e9", "caf\\u00e9"),  # never let a codec interpret escapes
        ("base64", "Grüße".encode(), "Grüße"),
    ],
)
def test_body_charset_wrong_or_unknown(charset: str, payload: bytes, expected: str) -> None:
    head = "\r\n".join([*BASE_HEADERS, f'Content-Type: text/plain; charset="{charset}"', "", ""]).encode()
    email = parsed(head + payload)
    assert email.body_text == expected
    assert email.parse_error is None


def test_raw_8bit_headers_are_decoded() -> None:
    raw = b"From: Ingo L\xfctkebohle <ingo@example.de>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\nHi\r\n"
    email = parsed(raw)
    assert email.subject == "Grüße"
    assert email.sender == Address(email="ingo@example.de", name="Ingo Lütkebohle")


def test_address_lists() -> None:
    email = parsed(
        mail(
            'To: "Support" <Support@Example.com>, bob@EXAMPLE.org, undisclosed-recipients:;',
            "Cc: =?utf-8?q?J=C3=BCrgen?= <JUERGEN@example.de>",
            "Reply-To: Tickets <tickets@example.com>",
        )
    )
    assert email.to == (Address("support@example.com", "Support"), Address("bob@example.org"))
    assert email.cc == (Address("juergen@example.de", "Jürgen"),)
    assert email.reply_address == Address("tickets@example.com", "Tickets")


def test_control_characters_never_reach_the_text() -> None:
    email = parsed(mail("Subject: a=?utf-8?q?=00=07?=b", body="x\x00y\x1b z\u200b\r\n"))
    assert email.subject == "ab"
    assert email.body_text == "xy z"


# --- bodies -------------------------------------------------------------------------------------------------------


def test_alternative_prefers_plain_text() -> None:
    email = parsed(
        multipart(
            "alternative",
            part("text/plain; charset=utf-8", "Plain version"),
            part("text/html; charset=utf-8", "<p>HTML version</p>"),
        )
    )
    assert email.body_text == "Plain version"
    assert email.body_html == "<p>HTML version</p>"


def test_alternative_falls_back_to_html_when_plain_is_empty() -> None:
    email = parsed(
        multipart(
            "alternative",
            part("text/plain; charset=utf-8", "  \r\n"),
            part("text/html; charset=utf-8", "<p>Only <b>HTML</b> has words</p>"),
        )
    )
    assert email.body_text == "Only HTML has words"


def test_html_hidden_text_scripts_and_styles_are_dropped() -> None:
    html = (
        "<html><head><title>TITLE</title><style>.a {color: red}</style></head><body>"
        '<div style="display: none">HIDDEN1</div><span hidden>HIDDEN2</span>'
        '<p style="font-weight:bold; VISIBILITY:hidden">HIDDEN3</p><script>var HIDDEN4 = 1;</script>'
        "<!-- HIDDEN5 --><iframe><script>HIDDEN6</script></iframe>"
        "<p>Visible &amp; <b>bold</b></p><div>after</div></body></html>\nappended footer"
    )
    email = parsed(mail(body=html, content_type="text/html; charset=utf-8"))
    for word in ("HIDDEN", "TITLE", "color", "<"):
        assert word not in email.body_text
    assert "Visible & bold" in email.body_text
    assert "after" in email.body_text
    assert "appended footer" in email.body_text  # libxml2 drops text after </html>; list footers live there
    assert email.body_html == html


def test_html_in_a_plain_part_is_rendered() -> None:
    email = parsed(mail(body="<html><body><p>Tagged</p><script>x()</script></body></html>"))
    assert email.body_text == "Tagged"


def test_mixed_parts_are_joined_in_order() -> None:
    email = parsed(
        multipart(
            "mixed",
            part("text/plain", "First part."),
            part("text/plain", "Second part.", "Content-Disposition: inline"),
        )
    )
    assert email.body_text == "First part.\n\nSecond part."


# --- quoted replies, signatures, footers --------------------------------------------------------------------------

GMAIL_REPLY = """Thanks, that fixed it.

On Mon, Jan 8, 2024 at 10:02 AM John Doe <
john.doe@example.com> wrote:

> Did you try restarting?
>
>> It is broken.
"""

GMAIL_HTML = (
    '<div dir="ltr">Sounds good, see you then.</div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at 10:02 AM John Doe &lt;'
    '<a href="mailto:john@example.com">john@example.com</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex"><div dir="ltr">Shall we meet?</div>'
    "</blockquote></div>"
)

OUTLOOK_REPLY = """Please send the invoice again.

________________________________
From: Billing <billing@example.com>
Sent: Monday, January 8, 2024 10:02 AM
To: Bob <bob@example.org>
Subject: Invoice 42

Your invoice is attached.
"""

OUTLOOK_HTML = (
    '<div class="WordSection1"><p class="MsoNormal">Please send the invoice again.<o:p></o:p></p>'
    '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p class="MsoNormal"><b>From:</b> Billing '
    "&lt;billing@example.com&gt;<br><b>Sent:</b> Monday, January 8, 2024 10:02 AM<br><b>To:</b> Bob<br>"
    "<b>Subject:</b> Invoice 42</p></div><p>Your invoice is attached.</p></div>"
)

ORIGINAL_MESSAGE = """Please send the invoice again.

-----Original Message-----
From: Billing [mailto:billing@example.com]
Your invoice is attached.
"""


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (GMAIL_REPLY, "text/plain", "Thanks, that fixed it."),
        (GMAIL_HTML, "text/html", "Sounds good, see you then."),
        (OUTLOOK_REPLY, "text/plain", "Please send the invoice again."),
        (OUTLOOK_HTML, "text/html", "Please send the invoice again."),
        (ORIGINAL_MESSAGE, "text/plain", "Please send the invoice again."),
        (
            "Ja, passt.\n\nAm 08.01.2024 um 10:02 schrieb Hans <h@example.de>:\n> Passt das?\n",
            "text/plain",
            "Ja, passt.",
        ),
        ("Oui.\n\nLe lun. 8 janv. 2024 à 10:02, Jean <j@example.fr> a écrit :\n> Ok ?\n", "text/plain", "Oui."),
    ],
)
def test_quoted_history_is_cut_from_clean_text(body: str, content_type: str, expected: str) -> None:
    email = parsed(mail(body=body, content_type=f"{content_type}; charset=utf-8"))
    assert email.clean_text == expected
    assert len(email.body_text) > len(email.clean_text)  # body_text keeps everything


def test_inline_replies_keep_the_answers() -> None:
    body = "Marc wrote:\n> First question?\nFirst answer.\n> Second question?\nSecond answer.\n"
    assert clean_text(body) == "First answer.\nSecond answer."


def test_bottom_posted_reply_keeps_the_answer_below_the_quote() -> None:
    body = "On Mon, Jan 8, 2024, John wrote:\n> Is it fixed?\n\nYes, since this morning.\n"
    assert clean_text(body) == "Yes, since this morning."


def test_forward_keeps_the_forwarded_request() -> None:
    body = (
        "Can you handle this one?\n\n---------- Forwarded message ---------\nFrom: Customer <c@example.net>\n"
        "Date: Mon, Jan 8, 2024 at 10:02 AM\nSubject: Broken order\n\nMy order 42 arrived broken.\n"
    )
    assert "My order 42 arrived broken." in parsed(mail("Subject: Fwd: Broken order", body=body)).clean_text
    outlook_forward = OUTLOOK_REPLY.replace("Please send the invoice again.", "FYI")
    assert "Your invoice is attached." in parsed(mail("Subject: FW: Invoice 42", body=outlook_forward)).clean_text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Please reset my password.\n\n-- \nJane Doe\nACME Corp\n", "Please reset my password."),
        (
            "Please reset my password.\n\nBest regards,\nJane Doe\nHead of IT, ACME\n+1 555 0100\n",
            "Please reset my password.",
        ),
        ("Please reset my password.\n\nThanks!\n", "Please reset my password."),
        ("Please reset my password.\n\nSent from my iPhone\n", "Please reset my password."),
        ("Please reset my password.\n\nMit freundlichen Grüßen\nHans\n", "Please reset my password."),
    ],
)
def test_signatures_are_cut(body: str, expected: str) -> None:
    assert clean_text(body) == expected


def test_sign_off_followed_by_a_long_tail_is_not_a_signature() -> None:
    tail = "\n".join(f"Point {n}: the export still fails with error {n} on every retry we made." for n in range(8))
    body = f"Short intro.\n\nThanks\n{tail}\n"
    assert clean_text(body) == body.strip()


def test_bare_dashes_above_a_long_text_are_not_a_signature() -> None:
    body = "Intro.\n--\n" + "\n".join(f"Item {n} of the newsletter, with some words." for n in range(20))
    assert clean_text(body) == body


def test_confidentiality_footer_is_cut() -> None:
    body = (
        "The shipment for order 42 is late, please advise.\n\nKind regards,\nBob\n\n"
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended solely\n"
        "for the use of the individual to whom it is addressed.\n"
    )
    email = parsed(mail(body=body))
    assert email.clean_text == "The shipment for order 42 is late, please advise."
    assert "CONFIDENTIALITY NOTICE" in email.body_text


def test_mailing_list_footer_is_cut() -> None:
    body = (
        "Does anyone have a working config?\n\n_______________________________________________\n"
        "ilug mailing list\nilug@linux.ie\nhttp://www.linux.ie/mailman/listinfo/ilug\n"
    )
    assert clean_text(body) == "Does anyone have a working config?"


def test_a_message_that_is_only_boilerplate_keeps_its_text() -> None:
    body = "This e-mail is confidential.\n\n-- \nBob\n"
    assert clean_text(body) == "This e-mail is confidential."


def test_pgp_armor_is_dropped() -> None:
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nAt 10:32, Gary wrote:\n> question\n\nAnswer.\n\n"
        "-----BEGIN PGP SIGNATURE-----\nVersion: GnuPG\n\niQA/AwUB\n-----END PGP SIGNATURE-----\n"
    )
    assert clean_text(body) == "Answer."


# --- attachments --------------------------------------------------------------------------------------------------


def test_attachment_metadata() -> None:
    pdf = b"%PDF-1.4 not really a pdf" * 10
    encoded = base64.encodebytes(pdf).decode()
    email = parsed(
        multipart(
            "mixed",
            part("text/plain; charset=utf-8", "See attached."),
            part(
                "application/pdf",
                encoded,
                'Content-Disposition: attachment; filename="=?utf-8?q?Rechnung_M=C3=A4rz.pdf?="',
                "Content-Transfer-Encoding: base64",
            ),
            part("image/png", "iVBORw0KGgo=", "Content-ID: <logo@x>", "Content-Transfer-Encoding: base64"),
            part("text/plain", "a,b\n1,2\n", "Content-Disposition: attachment; filename*=UTF-8''%C3%BCber.csv"),
            part("application/octet-stream", "xx", 'Content-Disposition: attachment; filename="../../etc/passwd"'),
        )
    )
    assert email.body_text == "See attached."
    names = [(a.filename, a.content_type, a.size, a.is_inline) for a in email.attachments]
    assert names == [
        ("Rechnung März.pdf", "application/pdf", len(pdf), False),
        ("", "image/png", 8, True),
        ("über.csv", "text/plain", 8, False),
        ("passwd", "application/octet-stream", 2, False),  # directory parts are never kept
    ]


def test_forwarded_message_attachment_supplies_the_body_when_there_is_no_other() -> None:
    inner = "Subject: Original problem\r\nFrom: c@example.net\r\n\r\nThe app crashes on start.\r\n"
    email = parsed(multipart("mixed", part("message/rfc822", inner)))
    assert email.body_text == "The app crashes on start."
    assert [(a.filename, a.content_type) for a in email.attachments] == [("Original problem.eml", "message/rfc822")]


# --- loop headers, threading, importance, dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "auto_reply", "bulk"),
    [
        ("X-Mailer: Thunderbird", False, False),
        ("Auto-Submitted: auto-replied", True, False),
        ("Auto-Submitted: no", False, False),
        ("Precedence: bulk", False, True),
        ("Precedence: list", False, True),
        ("List-Id: Users <users.lists.example.org>", False, True),
        ("List-Unsubscribe: <mailto:leave@news.example.com>", False, True),
        ("X-Autoreply: yes", True, False),
        ("X-Autorespond: Vacation", True, False),
        ("X-Auto-Response-Suppress: All", False, False),  # a request to us, not a sign of an automatic message
        ("Return-Path: <>", True, False),
        ("Return-Path: <bounces@example.com>", False, False),
    ],
)
def test_loop_signals(header: str, auto_reply: bool, bulk: bool) -> None:
    loop = parsed(mail(header)).loop
    assert (loop.is_auto_reply, loop.is_bulk) == (auto_reply, bulk)


def test_loop_signal_values() -> None:
    loop = parsed(mail("Auto-Submitted: auto-generated", "List-Id: <users.example.org>", "Return-Path: < >")).loop
    assert loop.auto_submitted == "auto-generated"
    assert loop.list_id == "<users.example.org>"
    assert loop.empty_return_path


def test_thread_ids_from_references() -> None:
    email = parsed(
        mail(
            "Message-ID: <c@example.com>",
            "In-Reply-To: <b@example.com> (John's message of Monday)",
            "References: <a@example.com>\r\n <b@example.com>\r\n\t<b@example.com>",
        )
    )
    assert (email.message_id, email.in_reply_to) == ("<c@example.com>", "<b@example.com>")
    assert email.references == ("<a@example.com>", "<b@example.com>")
    assert email.thread_id == "<a@example.com>"


@pytest.mark.parametrize(
    ("headers", "thread_id"),
    [
        (("In-Reply-To: <parent@example.com>",), "<parent@example.com>"),
        ((), "<m1@example.com>"),
        (("Message-ID: bare-id@example.com",), "<bare-id@example.com>"),
        (("Message-ID: <>",), None),
    ],
)
def test_thread_id_fallbacks(headers: tuple[str, ...], thread_id: str | None) -> None:
    assert parsed(mail(*headers)).thread_id == thread_id


@pytest.mark.parametrize(
    ("header", "importance"),
    [
        ("Importance: High", "high"),
        ("Importance: low", "low"),
        ("X-Priority: 1 (Highest)", "high"),
        ("X-Priority: 3 (Normal)", "normal"),
        ("X-Priority: 5", "low"),
        ("Priority: urgent", "high"),
        ("Priority: non-urgent", "low"),
        ("X-MSMail-Priority: High", "high"),
        ("Importance: whatever", "normal"),
        ("X-Mailer: none", "normal"),
    ],
)
def test_importance(header: str, importance: str) -> None:
    assert parsed(mail(header)).importance == importance


def test_received_at_prefers_the_connector_then_the_date_header() -> None:
    seen = datetime(2024, 2, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parsed(mail(), received_at=seen).received_at == datetime(2024, 2, 1, 10, 0, tzinfo=UTC)
    assert parsed(mail(), received_at=datetime(2024, 2, 1, 12, 0)).received_at.tzinfo == UTC  # naive: UTC
    assert parsed(mail()).received_at == datetime(2024, 1, 8, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("date", ["Date: yesterday", "Date: Mon, 99 Foo 2024 99:99:99 +9999", "X-No-Date: 1"])
def test_received_at_without_a_readable_date_is_now(date: str) -> None:
    before = datetime.now(UTC)
    raw = mail(date).replace(b"Date: Mon, 08 Jan 2024 10:00:00 +0100\r\n", b"")
    received_at = parsed(raw).received_at
    assert received_at.tzinfo is not None
    assert before <= received_at <= datetime.now(UTC)


# --- failures -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"  \r\n\r\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe", b"just some words\nwithout headers\n"],
)
def test_garbage_yields_parse_error_not_an_exception(raw: bytes) -> None:
    email = parsed(raw)
    assert email.parse_error
    assert (email.subject, email.sender) == ("", None)
    assert email.received_at.tzinfo is not None


def test_a_failing_field_group_costs_only_that_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(parse, "_render", broken)
    email = parsed(mail())
    assert email.parse_error == "body: RuntimeError"
    assert email.subject == "Test"
    assert email.body_text == ""


def test_an_unexpected_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RecursionError

    monkeypatch.setattr(parse, "_parse", broken)
    email = parsed(mail(), received_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert email.parse_error == "unparseable message: RecursionError"
    assert email.received_at == datetime(2024, 1, 1, tzinfo=UTC)


def _assert_storable(email: Email) -> None:
    """Every text field is valid Unicode without NUL: what PostgreSQL and JSON accept."""
    texts = [email.subject, email.body_text, email.clean_text, email.body_html or "", *email.references]
    texts += [a.filename for a in email.attachments] + [a.email + a.name for a in email.to + email.cc]
    for text in texts:
        text.encode("utf-8")
    assert all("\x00" not in text for text in texts[:3])
    assert email.received_at.tzinfo is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _assert_storable(parse_email(RawMessage(source_id="fuzz", raw=raw)))


HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "Content-Type",
                "Content-Transfer-Encoding", "Content-Disposition", "Return-Path", "X-Priority"]  # fmt: skip


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    """Known header names with arbitrary values over arbitrary bodies: reaches the MIME and decoding code."""
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=8))
    values = [draw(st.binary(max_size=60)) for _ in names]
    multipart_header = draw(st.sampled_from([b"", b'Content-Type: multipart/mixed; boundary="x"\r\n']))
    body = draw(st.binary(max_size=400)) + draw(
        st.sampled_from([b"", b"\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>"])
    )
    fields = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in zip(names, values, strict=True))
    return multipart_header + fields + b"\r\n" + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_soup())
def test_arbitrary_headers_and_bodies_never_raise(raw: bytes) -> None:
    _assert_storable(parse_email(RawMessage(source_id="fuzz", raw=raw)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_text_helpers_are_total(text: str) -> None:
    clean_text(text)
    clean_text(text, forwarded=True)
    html_to_text(text)
    decode_bytes(text.encode("utf-8", "surrogatepass"), text[:20])
