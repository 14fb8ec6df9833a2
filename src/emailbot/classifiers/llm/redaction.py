"""Optional PII redaction: personal values are swapped for placeholders before text leaves the machine and put
back into what comes back (the reply draft).

Only values that can be recognised reliably are touched: email addresses, phone numbers, payment card numbers
(Luhn checksum) and IBANs (ISO 13616 mod-97 checksum). The checksums keep order numbers and dates from being taken
for cards or accounts. The same value always gets the same placeholder within one text, so a model can still tell
that two mentions are one thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(r"(?<![\w+(])(?:\+|\()?\d[\d ()./-]{6,18}\d(?!\w)")
PLACEHOLDER = re.compile(r"\[(EMAIL|IBAN|CARD|PHONE)_(\d+)\]")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164
_NANP = re.compile(r"\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}")


def luhn_valid(number: str) -> bool:
    digits = [int(char) for char in number if char.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def _phone_like(candidate: str) -> bool:
    """International (+/00), trunk-prefixed (0) or North American layout, 7-15 digits: not an order number."""
    digits = sum(char.isdigit() for char in candidate)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return False
    return candidate.startswith(("+", "0", "(")) or bool(_NANP.fullmatch(candidate))


@dataclass
class Redaction:
    """One text's placeholders and the values they stand for."""

    values: dict[str, str] = field(default_factory=dict)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._by_value:
            count = sum(1 for known_kind, _ in self._by_value if known_kind == kind) + 1
            name = f"[{kind}_{count}]"
            self._by_value[key] = name
            self.values[name] = value
        return self._by_value[key]

    def restore(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda match: self.values.get(match.group(0), match.group(0)), text)


Check = Callable[[str], bool]
_KINDS: tuple[tuple[str, re.Pattern[str], Check], ...] = (
    ("EMAIL", EMAIL, lambda value: True),
    ("IBAN", IBAN, iban_valid),
    ("CARD", CARD, luhn_valid),
    ("PHONE", PHONE, _phone_like),
)


def redact(text: str, redaction: Redaction) -> str:
    """`text` with every recognised value replaced; `redaction` collects the placeholders (shared across texts)."""
    for kind, pattern, valid in _KINDS:
        text = pattern.sub(lambda match, k=kind, ok=valid: _swap(match, k, ok, redaction), text)  # type: ignore[misc]
    return text


def _swap(match: re.Match[str], kind: str, valid: Check, redaction: Redaction) -> str:
    value = match.group(0)
    return redaction.placeholder(kind, value) if valid(value) else value
