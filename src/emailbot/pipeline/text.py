"""Text helpers for the parser: charset and header decoding, HTML to text, and cutting a body down to what its
sender wrote.

`body_text` keeps everything; `clean_text` (what classification reads) drops quoted replies, legal footers and
signatures, because those repeat earlier mail or boilerplate and drown the few lines that say what is wanted.
Every function here is total: bad input degrades the output, it never raises. All scanning is line based and
every regex is either anchored or free of nested quantifiers, so a hostile body cannot make it backtrack.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html as html_lib
import re
from collections.abc import Sequence

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]
from charset_normalizer import from_bytes
from inscriptis.html_engine import Inscriptis
from inscriptis.model.config import ParserConfig

MAX_CLEAN_CHARS = 2_000_000  # clean_text only looks at the first 2 MB of a body
MAX_HTML_CHARS = 1_000_000  # HTML beyond this is not rendered (1 MB renders in about 0.3 s)
_DETECT_BYTES = 64_000  # charset detection samples at most this much
_DETECT_MIN_BYTES = 16  # below this, detection is a coin toss
_SIGNATURE_WINDOW = 15  # a sign-off is only looked for in the last lines
_SHORT_TAIL_LINES = 6
_SHORT_TAIL_CHARS = 400

# Labels mail declares that are better read as a superset codec (what browsers do too).
_CHARSET_ALIASES = {
    "us-ascii": "",  # 8-bit bytes under an ASCII label: UTF-8 or a legacy charset, never ASCII
    "ascii": "",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7",
}
# Codecs that exist in Python but are not real mail charsets: decoding with them would invent text.
_UNSAFE_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs"})

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?]*)\?=")
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u034f\u200b-\u200d\u2060\ufeff\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^<>]*>")
_DOCUMENT_END = re.compile(r"</(body|html)\s*>", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Never rendered by a mail client (an iframe's content is a fallback that holds scripts in practice).
_STRIPPED_TAGS = ("script", "style", "head", "title", "template", "iframe", "object", "embed", "applet")
_STRIPPED_OPEN = re.compile(rf"<({'|'.join(_STRIPPED_TAGS)})\b", re.IGNORECASE)

_QUOTED = re.compile(r"^\s*>")
_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|op|il|em|den|på)\s", re.IGNORECASE)
_ATTRIBUTION_VERB = re.compile(
    r"\b(wrote|writes|schrieb|a écrit|escribió|escreveu|schreef|ha scritto|skrev|napisał)\b", re.IGNORECASE
)
_ATTRIBUTION_END = re.compile(_ATTRIBUTION_VERB.pattern + r"\s?:$", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,} ?(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|oorspronkelijk bericht|messaggio originale) ?-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|von|de|van|da)\*?:\*?\s+\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato)\*?:\*?\s", re.IGNORECASE
)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(sent|date|to|cc|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado|para|asunto)\*?:",
    re.IGNORECASE,
)
_PGP_ARMOR = re.compile(r"^-----(BEGIN|END) PGP (SIGNED MESSAGE|SIGNATURE)-----\s*$")
_FORWARD_MARKER = re.compile(
    r"^\s*(-{2,} ?forwarded message ?-{2,}|begin forwarded message:|-{2,} ?weitergeleitete nachricht ?-{2,})",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*[-_=*~]{3,}\s*$")
_SIGN_OFF = re.compile(
    r"^\s*(thanks|thank you|many thanks|thanks again|thanks in advance|best|best regards|kind regards|regards"
    r"|warm regards|with regards|cheers|sincerely|yours sincerely|yours truly|yours faithfully|respectfully"
    r"|cordially|all the best|mit freundlichen grüßen|freundliche grüße|viele grüße|liebe grüße|grüße|gruß"
    r"|cordialement|bien cordialement|salutations|saludos|atentamente|un saludo|met vriendelijke groet"
    r"|groeten|distinti saluti|cordiali saluti|best wishes|take care|br|brgds|rgds|tia)[\s,.!]*$",
    re.IGNORECASE,
)
_MOBILE_SIGNATURE = re.compile(r"^\s*(sent from my \S|sent from (mail|outlook|yahoo)|get outlook for )", re.IGNORECASE)
# Matched against one paragraph, lower-cased, its lines joined by single spaces.
_FOOTER = re.compile(
    r"^(e-?mail |legal )?disclaimer\b|confidentiality notice|privileged and confidential|the intended recipient"
    r"|confidential and/or privileged|confidential and may be (legally )?privileged"
    r"|intended (solely |only )?for the (sole )?(use of the )?(individual|person|addressee|named recipient)"
    r"|if you have received this (e-?mail|message|communication) in error"
    r"|this (e-?mail|message|communication) (and any attachments? )?(is|are|may be|may contain) (strictly )?"
    r"(confidential|privileged)|please consider the environment before printing"
    r"|to unsubscribe from this (list|group|mailing list)|click here to unsubscribe|to unsubscribe,? send"
    r"|you are currently subscribed to|you are receiving this (e-?mail|message) because"
    r"|you received this (e-?mail|message) because you are subscribed|yahoo! groups sponsor"
    r"|your use of yahoo! groups is subject to",
)


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes to text: the declared charset if it fits, then UTF-8, then the same lossily, detection, cp1252.

    Mail routinely declares a wrong or unknown charset, and mailers cut multi-byte characters in half, so the
    label is a hint and a few broken bytes must not throw the whole text into another charset.
    """
    label = _charset_name(charset)
    declared = _CHARSET_ALIASES.get(label, label)
    for name in (declared, label, "utf-8"):
        if name and (text := _try_decode(data, name)) is not None:
            return text
    for name, acceptable in ((declared, _few_errors), ("utf-8", _mostly_valid)):
        if name and (text := _try_decode(data, name, errors="replace")) is not None and acceptable(text):
            return text
    return _try_decode(data, _detect_charset(data), errors="replace") or data.decode("cp1252", errors="replace")


def _few_errors(text: str) -> bool:
    return text.count("\ufffd") * 100 <= len(text)


def _mostly_valid(text: str) -> bool:
    """Valid multi-byte characters outnumber the broken ones two to one (cp1252 text has hardly any)."""
    broken = text.count("\ufffd")
    return len(text) - len(text.encode("ascii", "ignore")) - broken >= 2 * broken


def _charset_name(charset: str | None) -> str:
    return (charset or "").strip().strip("\"'").lower()[:40]


def _try_decode(data: bytes, name: str, errors: str = "strict") -> str | None:
    """Decode with `name`, or None when it is unknown, not a text codec, or (strictly) does not fit."""
    try:
        info = codecs.lookup(name)
        if not getattr(info, "_is_text_encoding", True) or info.name in _UNSAFE_CODECS:
            return None
        return data.decode(info.name, errors=errors)
    except Exception:  # LookupError, UnicodeError, ValueError: a bad label or bytes must not escape
        return None


def _detect_charset(data: bytes) -> str:
    """charset-normalizer's guess, or "": it needs some text to go on, and UTF-16/32 guesses are noise in mail."""
    if len(data) < _DETECT_MIN_BYTES:
        return ""
    try:
        best = from_bytes(data[:_DETECT_BYTES]).best()
    except Exception:  # charset-normalizer is a heuristic; its failure only means "no guess"
        return ""
    if best is None or best.encoding.startswith(("utf_16", "utf_32")):
        return ""
    return best.encoding


def decode_raw_header(value: str, hint: str | None) -> str:
    """Raw bytes in a header (against RFC 5322, but common): UTF-8 if they fit, else the body's charset."""
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_bytes(data, hint)


def one_line(value: str) -> str:
    """Header text as one line: no control characters, single spaces."""
    return " ".join(normalize_text(value).split())


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words, tolerating what mailers get wrong (unknown charsets, bad padding).

    Whitespace between two encoded words is dropped (RFC 2047 section 6.2) and adjacent words in one charset are
    decoded together, because clients split multi-byte characters across words.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if gap and not (run and gap.isspace()):
            out.extend((_decode_run(run), gap))
            run = []
        run.append((match[1].partition("*")[0].lower(), _word_bytes(match[2], match[3])))
        position = match.end()
    out.extend((_decode_run(run), value[position:]))
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "qQ":
        return binascii.a2b_qp(text.encode("utf-8", "surrogateescape"), header=True)
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return text.encode("utf-8", "surrogateescape")


def _decode_run(run: list[tuple[str, bytes]]) -> str:
    groups: list[tuple[str, bytearray]] = []
    for charset, data in run:
        if groups and groups[-1][0] == charset:
            groups[-1][1].extend(data)
        else:
            groups.append((charset, bytearray(data)))
    return "".join(decode_bytes(bytes(data), charset) for charset, data in groups)


def normalize_text(text: str) -> str:
    """One newline style, no control or zero-width characters, no trailing spaces, at most one blank line.

    Storage (PostgreSQL text rejects NUL) and every later regex can then rely on plain lines. The one trailing
    space kept is that of the "-- " signature delimiter, which means something.
    """
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line if line == "-- " else line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def html_to_text(html: str) -> str:
    """Render HTML as the reader would see it: hidden text, scripts, styles and comments are dropped first.

    Hidden text is how spam and tracking preheaders smuggle words past a reader; a classifier must not see them.
    """
    html = html[:MAX_HTML_CHARS]
    if not html.strip():
        return ""
    try:
        # libxml2 drops whatever follows </html>, where list software appends its footer and spam its payload
        markup = _DOCUMENT_END.sub("", html).encode("utf-8", "replace")
        tree = lxml.html.document_fromstring(markup, parser=_html_parser())
        _remove_hidden(tree)
        text = str(Inscriptis(tree, ParserConfig()).get_text())
    except Exception:  # malformed or absurdly deep HTML: fall back to crude tag stripping
        text = _strip_tags(html)
    # table layouts come out padded with hundreds of spaces: words matter here, not columns
    return normalize_text("\n".join(" ".join(line.split()) for line in text.split("\n")))


def _html_parser() -> lxml.html.HTMLParser:
    """A fresh parser per call: lxml parser objects must not be shared between threads."""
    return lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)


def _remove_hidden(tree: lxml.html.HtmlElement) -> None:
    """Comments are already gone (the parser drops them); scripts, styles and hidden elements go here."""
    lxml.etree.strip_elements(tree, *_STRIPPED_TAGS, with_tail=False)
    for element in tree.xpath("//*[@hidden or @style]"):
        if element.get("hidden") is None and not _HIDDEN_STYLE.search(element.get("style") or ""):
            continue
        if element.getparent() is None:
            element.clear()  # the root itself is hidden: nothing is visible
        else:
            element.drop_tree()  # keeps the element's tail, which is visible text after it


def _strip_tags(html: str) -> str:
    """Crude fallback renderer; finds closing tags with plain searches so it stays linear on broken HTML."""
    pieces: list[str] = []
    pos = 0
    while match := _STRIPPED_OPEN.search(html, pos):
        pieces.append(html[pos : match.start()])
        close = re.compile(rf"</{match[1]}", re.IGNORECASE).search(html, match.end())
        pos = close.start() if close else len(html)
    pieces.append(html[pos:])
    return html_lib.unescape(_TAG.sub(" ", "".join(pieces)))


def clean_text(text: str, *, forwarded: bool = False) -> str:
    """What the sender wrote in this message: no quoted history, legal footer or signature.

    A forward keeps its quoted part, because there the forwarded mail is the request.
    """
    lines = _drop_pgp_armor(normalize_text(text[:MAX_CLEAN_CHARS]).split("\n"))
    if not forwarded:
        lines = _cut_quotes(lines)
    lines = _cut_footer(lines)
    lines = _cut_signature(lines)
    while lines and (not lines[-1].strip() or _SEPARATOR.match(lines[-1])):
        lines.pop()
    return normalize_text("\n".join(lines))


def _drop_pgp_armor(lines: list[str]) -> list[str]:
    """Drop PGP clear-signing wrappers: the armor header ("Hash: SHA1" up to a blank line) and the signature."""
    kept: list[str] = []
    mode = ""  # "header" or "signature" while inside one
    for line in lines:
        if armor := _PGP_ARMOR.match(line):
            mode = "" if armor[1] == "END" else "signature" if armor[2] == "SIGNATURE" else "header"
        elif mode == "header" and not line.strip():
            mode = ""
        elif not mode:
            kept.append(line)
    return kept


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not _SEPARATOR.match(line)


def _first_content(lines: Sequence[str]) -> int:
    """Index of the first line with text (len(lines) if none): 'is there text above line i' is i > this."""
    return next((i for i, line in enumerate(lines) if _is_content(line)), len(lines))


def _cut_quotes(lines: list[str]) -> list[str]:
    """Drop '>' lines and everything from the first reply header that follows some text of the sender's own.

    A reply header with nothing above it (bottom posting) is skipped instead, so the answer below survives.
    A forward marker stops the cutting: what follows it is the forwarded request.
    """
    kept: list[str] = []
    has_content = False
    index = 0
    while index < len(lines):
        if _FORWARD_MARKER.match(lines[index]):
            return kept + [line for line in lines[index:] if not _QUOTED.match(line)]
        header = _reply_header_length(lines, index)
        if header and has_content:
            return kept
        if not header and not _QUOTED.match(lines[index]):
            kept.append(lines[index])
            has_content = has_content or _is_content(lines[index])
        index += max(header, 1)
    return kept


def _reply_header_length(lines: Sequence[str], index: int) -> int:
    """How many lines the reply header starting at `index` spans (0: none starts there)."""
    line = lines[index]
    if _ORIGINAL_MESSAGE.match(line):
        return 1
    if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_SENT.match(nxt) for nxt in lines[index + 1 : index + 5]):
        fields = 1
        while index + fields < len(lines) and fields < 10 and _HEADER_FIELD.match(lines[index + fields]):
            fields += 1
        return fields  # "From:" and the Sent/To/Cc/Subject lines under it
    if _ATTRIBUTION_START.match(line):
        return _attribution_length(lines, index)
    if len(line) < 300 and _ATTRIBUTION_END.search(line.rstrip()[-40:]) and _quote_follows(lines, index + 1):
        return 1  # "John Smith wrote:" directly above '>' lines
    return 0


def _attribution_length(lines: Sequence[str], index: int) -> int:
    """'On <date>, <name> wrote:' (or 'Am ... schrieb <name>:'), which clients wrap over up to three lines."""
    joined = ""
    for offset, line in enumerate(lines[index : index + 3]):
        joined = f"{joined} {line.strip()}"
        if len(joined) > 400:
            return 0
        if joined.endswith(":") and _ATTRIBUTION_VERB.search(joined):
            return offset + 1
    return 0


def _quote_follows(lines: Sequence[str], index: int) -> bool:
    for line in lines[index : index + 3]:
        if line.strip():
            return bool(_QUOTED.match(line))
    return False


def _paragraph_starts(lines: Sequence[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip() and (i == 0 or not lines[i - 1].strip())]


def _cut_footer(lines: list[str]) -> list[str]:
    """Cut from the first legal/confidentiality or mailing-list footer paragraph that follows real text."""
    first = _first_content(lines)
    for start in _paragraph_starts(lines):
        end = start
        while end < len(lines) and lines[end].strip() and end - start < 40:
            end += 1
        if start > first and _is_footer(" ".join(" ".join(lines[start:end]).split())[:4000].lower()):
            return lines[:start]
    return lines


def _is_footer(paragraph: str) -> bool:
    """`paragraph` is lower-cased and on one line; a lone list-info URL is Mailman's shortest footer."""
    if "mailing list" in paragraph and "listinfo" in paragraph:
        return True
    if paragraph.startswith("http") and " " not in paragraph and "listinfo" in paragraph:
        return True
    return bool(_FOOTER.search(paragraph))


def _cut_signature(lines: list[str]) -> list[str]:
    """Cut at the "-- " delimiter (or a bare "--" above a signature-sized tail), then at a sign-off or mobile
    signature line followed by a short tail."""
    first = _first_content(lines)
    for index in range(first + 1, len(lines)):
        if lines[index] == "-- " or (lines[index] == "--" and _is_short_tail(lines[index + 1 :], 12, 1000)):
            lines = lines[:index]
            break
    for index in range(max(first + 1, len(lines) - _SIGNATURE_WINDOW), len(lines)):
        if _is_sign_off(lines[index]) and _is_short_tail(lines[index + 1 :]):
            return lines[:index]
    return lines


def _is_sign_off(line: str) -> bool:
    return len(line) < 80 and bool(_SIGN_OFF.match(line) or _MOBILE_SIGNATURE.match(line))


def _is_short_tail(lines: Sequence[str], max_lines: int = 6, max_chars: int = 400) -> bool:
    """A name, a title, a phone number: few, short lines (a long tail means the sign-off was mid-text).

    Stops at the first line over the limits, so that checking many candidate lines stays linear.
    """
    count = chars = 0
    for line in lines:
        if line.strip():
            count, chars = count + 1, chars + len(line)
            if count > max_lines or chars > max_chars:
                return False
    return True
