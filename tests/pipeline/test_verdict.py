"""Server verdicts read from real header forms, through the parser."""

from __future__ import annotations

import pytest

from emailbot.domain import RawMessage
from emailbot.pipeline.parse import parse_email
from tests.factories import rfc822


def _parsed(headers: dict[str, str]) -> tuple[str | None, str]:
    email = parse_email(RawMessage("1", rfc822("Hello", "Body text", headers=headers)))
    return email.loop.server_verdict, email.loop.verdict_evidence


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Spam-Flag": "YES"}, ("spam", "X-Spam-Flag: YES")),
        ({"X-Spam-Status": "Yes, score=7.1 required=5.0 tests=BAYES_99"}, ("spam", "X-Spam-Status: Yes")),
        ({"X-MS-Exchange-Organization-SCL": "5"}, ("spam", "SCL 5")),
        ({"X-MS-Exchange-Organization-SCL": "9"}, ("spam", "SCL 9")),
        (
            {"X-Forefront-Antispam-Report": "CIP:192.0.2.1;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:SPM;"},
            ("spam", "SFV:SPM"),
        ),
        ({"X-Forefront-Antispam-Report": "CIP:192.0.2.1;SCL:6;SFV:NSPM;"}, ("spam", "SCL:6")),
        ({"X-Forefront-Antispam-Report": "SFV:SPM;CAT:PHSH;SCL:9"}, ("phishing", "CAT:PHSH")),
        (
            {"Authentication-Results": "mx.example.com; spf=pass; dmarc=fail (p=reject) header.from=bank.example"},
            ("phishing", "dmarc=fail"),
        ),
    ],
)
def test_positive_verdicts(headers: dict[str, str], expected: tuple[str, str]) -> None:
    assert _parsed(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Spam-Flag": "NO"},
        {"X-Spam-Status": "No, score=-2.6 required=5.0"},
        {"X-MS-Exchange-Organization-SCL": "-1"},
        {"X-MS-Exchange-Organization-SCL": "1"},
        {"X-MS-Exchange-Organization-SCL": "not a number"},
        {"X-Forefront-Antispam-Report": "CIP:192.0.2.1;SCL:1;SFV:NSPM;CAT:NONE"},
        {"Authentication-Results": "mx.example.com; spf=fail smtp.mailfrom=list.example; dkim=fail; dmarc=pass"},
    ],
)
def test_no_verdict(headers: dict[str, str]) -> None:
    assert _parsed(headers) == (None, "")
