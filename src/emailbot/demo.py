"""Sample mail for a first run: a dozen or so messages that together take every route through the pipeline.

Routine requests a classifier should answer confidently, ambiguous ones that end up as drafts or in review,
an outage and a security incident to escalate, machine-sent mail that the loop guards must hold back (an
out-of-office reply, a newsletter), one carrying script and HTML to show that nothing is rendered unescaped,
and one malformed message to show that bad input is kept and flagged rather than lost.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from emailbot.mail.maildir import ensure_maildir

HELPDESK = "IT Help Desk <helpdesk@example.com>"
MINUTES_BETWEEN_SAMPLES = 7


@dataclass(frozen=True, slots=True)
class DemoMail:
    """One sample. `shows` names what it demonstrates; `category` is what a good classifier should pick."""

    slug: str
    shows: str  # routine | ambiguous | escalation | noise | loop-guard | escaping | malformed
    sender: str
    subject: str
    body: str
    category: str | None = None
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes | None = None  # written as is instead of being built from the fields (malformed sample)


_MALFORMED = (
    b'From: "Scanner MFP-3 <scanner@legacy.example.com>\n'
    b"To: helpdesk@example.com\n"
    b"Subject: =?x-unknown?Q?Scan=20from=20MFP?= r\xe9sum\xe9 \xff\xfe\n"
    b"Date: 32 Foo 2024 25:61:00 +9999\n"
    b"Message-ID: <scan-0001@legacy.example.com\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="never-closed"\n'
    b"this header line has no colon and ends the header block early\n"
    b"\n"
    b"--never-closed\n"
    b"Content-Type: text/plain; charset=x-klingon\n"
    b"Content-Transfer-Encoding: base64\n"
    b"\n"
    b"U2NhbiBjb21wbGV0ZQ!!!not*base64***\n"
    b"--never-closed\n"
    b'Content-Type: application/pdf; name="scan.pdf"\n'
    b"Content-Transfer-Encoding: base64\n"
    b"\n"
    b"JVBERi0xLjQK\n"
)

DEMO_MAIL: tuple[DemoMail, ...] = (
    DemoMail(
        slug="password-reset",
        shows="routine",
        category="SUPPORT",
        sender="Maria Jensen <maria.jensen@example.com>",
        subject="How do I reset my password?",
        body="Hi,\n\nI forgot my password and can't log in to my laptop or to webmail. How do I reset it?\n"
        "Is there a self-service page, or do I need to come by?\n\nThanks,\nMaria",
    ),
    DemoMail(
        slug="printer",
        shows="routine",
        category="SUPPORT",
        sender="Tom Becker <tom.becker@example.com>",
        subject="Printer on 2nd floor not printing",
        body="Hello IT,\n\nThe printer next to the kitchen on the 2nd floor (PRN-2F-01) shows my jobs in the "
        "queue but nothing comes out. I already turned it off and on again. Could someone help me get it "
        "to print?\n\nTom",
    ),
    DemoMail(
        slug="vpn",
        shows="routine",
        category="SUPPORT",
        sender="Aisha Khan <aisha.khan@example.com>",
        subject="VPN won't connect from home",
        body="Hi team,\n\nSince this morning the VPN client says 'connection timed out' when I try to "
        "connect from home. My internet works fine otherwise. What should I try?\n\nBest,\nAisha",
    ),
    DemoMail(
        slug="licence-quote",
        shows="routine",
        category="PURCHASING",
        sender="Lukas Schmidt <lukas.schmidt@example.com>",
        subject="Quote for 5 additional Adobe Acrobat Pro licences",
        body="Hi,\n\nOur team is growing and we need 5 more Adobe Acrobat Pro licences for the new starters. "
        "Could you get us a quote and tell me which cost centre approval you need?\n\nKind regards,\nLukas",
    ),
    DemoMail(
        slug="office-hours",
        shows="routine",
        category="INFORMATION",
        sender="Chen Wei <chen.wei@example.com>",
        subject="Help desk opening hours over the holidays",
        body="Hello,\n\nWhat are the help desk's opening hours between Christmas and New Year? "
        "And who do we call if something breaks when you're closed?\n\nThanks,\nChen",
    ),
    DemoMail(
        slug="new-laptop",
        shows="routine",
        category="PURCHASING",
        sender="Sofia Rossi <sofia.rossi@example.com>",
        subject="Laptop and monitor for a new hire starting 3 March",
        body="Hi IT,\n\nWe have a new colleague, Jonas Weber, starting on 3 March in Finance. Could you "
        'order a standard laptop and a 27" monitor for him and have an account ready on day one?\n\nSofia',
    ),
    DemoMail(
        slug="vague-question",
        shows="ambiguous",
        sender="Peter Novak <peter.novak@example.com>",
        subject="Quick question",
        body="Hi,\n\nabout what we discussed after yesterday's meeting - is that something you handle or "
        "should I ask facilities? Let me know.\n\nPeter",
    ),
    DemoMail(
        slug="sharepoint-advice",
        shows="ambiguous",
        category="CONSULTATION",
        sender="Emma Dubois <emma.dubois@example.com>",
        subject="SharePoint or Teams for our project files?",
        body="Hello,\n\nOur department wants to move the shared drive to the cloud. Some people want "
        "SharePoint, others want to keep everything in Teams. Could someone advise what makes more sense for "
        "us, and whether there are retention rules we must follow?\n\nEmma",
    ),
    DemoMail(
        slug="monitor-flicker",
        shows="ambiguous",
        sender="Jonas Berg <jonas.berg@example.com>",
        subject="Screen flickering - repair or new one?",
        body="Hi,\n\nmy monitor flickers every few minutes, worse in the afternoon. Is it worth repairing or "
        "should I just order a new one? Our budget is tight this quarter.\n\nJonas",
    ),
    DemoMail(
        slug="email-outage",
        shows="escalation",
        category="ESCALATION",
        sender="Rachel Green <rachel.green@example.com>",
        subject="URGENT: email down for the whole Sales floor",
        body="URGENT\n\nNobody on the Sales floor (about 40 people) has been able to send or receive email "
        "for the last 30 minutes. Outlook says 'disconnected'. We have customer deadlines today. "
        "Please call me at extension 4411 as soon as possible.\n\nRachel Green, Head of Sales",
        headers=(("Importance", "high"), ("X-Priority", "1")),
    ),
    DemoMail(
        slug="phishing-clicked",
        shows="escalation",
        category="ESCALATION",
        sender="Daniel Okafor <daniel.okafor@example.com>",
        subject="I clicked a link in a phishing email and entered my password",
        body="Hi,\n\nI got an email that looked like it came from our payroll provider. I clicked the link "
        "and typed in my username and password before I noticed the address was wrong. Now I see sign-in "
        "alerts from another country. What do I do? Is my account compromised?\n\nDaniel",
    ),
    DemoMail(
        slug="out-of-office",
        shows="noise",
        sender="Hannah Meyer <hannah.meyer@example.com>",
        subject="Automatic reply: Printer on 2nd floor not printing",
        body="Thank you for your message. I am out of the office until Monday 10 March with no access to "
        "email. For urgent matters please contact reception.\n\nHannah Meyer",
        headers=(("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes"), ("Precedence", "auto_reply")),
    ),
    DemoMail(
        slug="newsletter",
        shows="noise",
        sender="Cloud Vendor News <news@vendor.example.net>",
        subject="This month: 5 new features for your admin console",
        body="Hello admin,\n\nhere is what is new this month: faster reports, audit log export, and more.\n\n"
        "You receive this email because you subscribed. Unsubscribe: https://vendor.example.net/unsub",
        headers=(
            ("List-Id", "Vendor product news <news.vendor.example.net>"),
            ("List-Unsubscribe", "<https://vendor.example.net/unsub>"),
            ("Precedence", "bulk"),
        ),
    ),
    DemoMail(
        slug="spam-verdict",
        shows="noise",
        sender="Prize Department <claims@winners.example.biz>",
        subject="Congratulations, you are our lucky winner",
        body="Your address was drawn in our international lottery. Send your bank details to claim 1,000,000 EUR.",
        headers=(("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=12.4 required=5.0")),
    ),
    DemoMail(
        slug="thanks",
        shows="noise",
        sender="Sofia Lindqvist <sofia.lindqvist@example.com>",
        subject="Re: Laptop and monitor for a new hire",
        body="Thanks, everything arrived and Jonas is all set up. You can close this.\n\nSofia",
    ),
    DemoMail(
        slug="no-reply-form",
        shows="loop-guard",
        category="SUPPORT",
        sender="Web Forms <no-reply@forms.example.com>",
        subject="New request: VPN not connecting from home",
        body="A request was submitted on the intranet form.\n\nName: Lea Vogel\nProblem: Since this morning I "
        "cannot connect to the VPN from home, the client says the connection timed out. I restarted my laptop. "
        "Please help, I need access to the file server.",
    ),
    DemoMail(
        slug="script-payload",
        shows="escaping",
        category="SUPPORT",
        sender='"<b>Mallory</b>" <mallory@example.org>',
        subject="<script>alert('subject')</script> Help with my printer",
        body="Hi, my printer does not work. <script>alert('body')</script>\n"
        "<img src=x onerror=\"alert('img')\"> Please help.",
        html="<p>Hi, my printer does not work.</p><script>alert('html')</script>"
        "<img src=x onerror=\"alert('img')\"><a href=\"javascript:alert('link')\">details</a>",
    ),
    DemoMail(
        slug="malformed",
        shows="malformed",
        sender="scanner@legacy.example.com",
        subject="(malformed)",
        body="",
        raw=_MALFORMED,
    ),
)


# The categories of the routine samples: the demo grants them auto-send, so that it shows automatic replies.
ROUTINE_CATEGORIES = tuple(sorted({m.category for m in DEMO_MAIL if m.shows == "routine" and m.category}))


def write_demo_mail(root: Path, *, count: int | None = None, force: bool = False) -> int:
    """Write the samples into the Maildir at `root` (created when missing) as new mail, oldest first.

    Does nothing when the mailbox already holds mail in new/ or cur/, unless `force`, so that starting the
    demo twice does not flood the queue. `count` writes that many, repeating the samples when it exceeds them.
    Returns how many messages were written.
    """
    ensure_maildir(root)
    if not force and _holds_mail(root):
        return 0
    total = len(DEMO_MAIL) if count is None else max(count, 0)
    now = datetime.now(UTC).replace(microsecond=0)
    for index in range(total):
        sample = DEMO_MAIL[index % len(DEMO_MAIL)]
        sent_at = now - timedelta(minutes=MINUTES_BETWEEN_SAMPLES * (total - index))
        _deliver(root, render(sample, sent_at=sent_at, message_id=_message_id(sample, index)), sent_at, index)
    return total


def render(sample: DemoMail, *, sent_at: datetime, message_id: str) -> bytes:
    """The sample as an RFC 5322 message, as a mail server would have delivered it."""
    if sample.raw is not None:
        return sample.raw
    msg = EmailMessage(policy=policy.default)
    msg["Return-Path"] = f"<{sample.sender.rpartition('<')[2].rstrip('>')}>"
    msg["From"] = sample.sender
    msg["To"] = HELPDESK
    msg["Subject"] = sample.subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    for name, value in sample.headers:
        msg[name] = value
    msg.set_content(sample.body)
    if sample.html is not None:
        msg.add_alternative(sample.html, subtype="html")
    return msg.as_bytes()


def _message_id(sample: DemoMail, index: int) -> str:
    domain = sample.sender.rpartition("@")[2].rstrip(">") or "example.com"
    return f"<demo-{index:04d}-{sample.slug}-{secrets.token_hex(4)}@{domain}>"


def _holds_mail(root: Path) -> bool:
    return any(not name.startswith(".") for folder in ("new", "cur") for name in os.listdir(root / folder))


def _deliver(root: Path, data: bytes, sent_at: datetime, index: int) -> None:
    """Maildir delivery (tmp/, then rename into new/), with the file's mtime set to the sample's date."""
    name = f"{int(sent_at.timestamp())}.M{index:06d}P{os.getpid()}Q{secrets.token_hex(3)}.emailbot-demo"
    staging = root / "tmp" / name
    staging.write_bytes(data)
    os.utime(staging, (sent_at.timestamp(), sent_at.timestamp()))
    os.rename(staging, root / "new" / name)
