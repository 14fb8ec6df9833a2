"""What the receiving servers already decided about a message: spam and phishing verdicts in its headers.

A mail server in front of the mailbox has seen far more mail than any model here, so its verdict is the strongest
evidence there is that an email asks nothing of the desk. Only positive verdicts count: a sender can add any header
it likes, but it gains nothing by calling its own mail spam, while a forged "not spam" must never lift anything.

- SpamAssassin: `X-Spam-Flag: YES`, or `X-Spam-Status: Yes, score=...`.
- Exchange Online Protection: `X-MS-Exchange-Organization-SCL` of 5 or more (5-6 spam, 9 high-confidence spam;
  -1 is a trusted sender), and `X-Forefront-Antispam-Report` with `SFV:SPM` (filtered as spam), `SFV:SKS` (marked
  spam by a mail-flow rule), `SFV:BLK` (a blocked sender), `SCL:5+`, or `CAT:` of a spam or phishing verdict.
- `Authentication-Results` (RFC 8601) with `dmarc=fail`: mail from a domain that did not send it. SPF or DKIM
  failing alone is left out: forwarding and mailing lists break them for honest mail every day.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SPAM = "spam"
PHISHING = "phishing"
SCL_SPAM = 5
_FOREFRONT_SPAM_VERDICTS = frozenset({"SPM", "SKS", "BLK"})
_PHISHING_CATEGORIES = frozenset({"PHSH", "HPHSH", "HPHISH", "SPOOF", "GIMP", "UIMP", "DIMP", "MALW", "AMP"})
_SPAM_CATEGORIES = frozenset({"SPM", "HSPM"})
_FIELD = re.compile(r"(SFV|CAT|SCL):\s*([A-Z0-9-]+)", re.IGNORECASE)
_DMARC_FAIL = re.compile(r"\bdmarc\s*=\s*fail\b", re.IGNORECASE)


def server_verdict(header: Callable[[str], str]) -> tuple[str | None, str]:
    """(spam|phishing|None, the evidence) from the headers; `header(name)` returns a header's value or ''."""
    checks: tuple[Callable[[Callable[[str], str]], tuple[str | None, str]], ...] = (
        _forefront,
        _spamassassin,
        _exchange_scl,
        _dmarc,
    )
    for check in checks:
        verdict, evidence = check(header)
        if verdict:
            return verdict, evidence
    return None, ""


def _spamassassin(header: Callable[[str], str]) -> tuple[str | None, str]:
    if header("x-spam-flag").strip().lower().startswith("yes"):
        return SPAM, "X-Spam-Flag: YES"
    if header("x-spam-status").strip().lower().startswith("yes"):
        return SPAM, "X-Spam-Status: Yes"
    return None, ""


def _exchange_scl(header: Callable[[str], str]) -> tuple[str | None, str]:
    scl = _integer(header("x-ms-exchange-organization-scl"))
    if scl is not None and scl >= SCL_SPAM:
        return SPAM, f"SCL {scl}"
    return None, ""


def _forefront(header: Callable[[str], str]) -> tuple[str | None, str]:
    fields: dict[str, str] = {}
    for name, value in _FIELD.findall(header("x-forefront-antispam-report")):
        fields.setdefault(name.upper(), value.upper())
    category = fields.get("CAT", "")
    if category in _PHISHING_CATEGORIES:
        return PHISHING, f"CAT:{category}"
    if fields.get("SFV") in _FOREFRONT_SPAM_VERDICTS:
        return SPAM, f"SFV:{fields['SFV']}"
    if category in _SPAM_CATEGORIES:
        return SPAM, f"CAT:{category}"
    scl = _integer(fields.get("SCL", ""))
    if scl is not None and scl >= SCL_SPAM:
        return SPAM, f"SCL:{scl}"
    return None, ""


def _dmarc(header: Callable[[str], str]) -> tuple[str | None, str]:
    if _DMARC_FAIL.search(header("authentication-results")):
        return PHISHING, "dmarc=fail"
    return None, ""


def _integer(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None
