"""A synthetic help-desk mailbox: N RFC 822 files in a Maildir `new/`, deterministic for a given seed.

Why generate instead of replaying a real mailbox: real mail cannot be committed, and a benchmark must be
reproducible byte for byte. The generator therefore mixes what makes the pipeline do different work:
- the five categories (PURCHASING, SUPPORT, INFORMATION, ESCALATION, CONSULTATION) in help-desk proportions, from
  templates filled at random, so the classifier sees varied text and the router takes every branch;
- machine mail the loop guards must hold back: list mail (List-Id), auto-replies (Auto-Submitted), no-reply senders;
- HTML (multipart/alternative and HTML-only), replies with quoted history and signatures, small attachments,
  a few non-English messages, and a few duplicate deliveries (same Message-ID);
- mostly distinct senders, so the per-sender reply guard does not decide most emails, plus a pool of regulars who
  write again and again (as real colleagues do), so it is exercised too.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

SEED = 20_260_101
HELPDESK = "IT Help Desk <helpdesk@example.com>"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# (kind, weight): categories first, then the machine mail and chatter that no category should answer.
KINDS: tuple[tuple[str, float], ...] = (
    ("SUPPORT", 0.34),
    ("INFORMATION", 0.17),
    ("PURCHASING", 0.16),
    ("CONSULTATION", 0.10),
    ("ESCALATION", 0.07),
    ("LIST", 0.06),
    ("AUTO_REPLY", 0.04),
    ("NO_REPLY", 0.03),
    ("CHATTER", 0.03),
)

FIRST = ("Anna", "Ben", "Chiara", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
         "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomasz", "Ulla", "Victor", "Wen", "Yusuf",
         "Zoe", "Maria", "Peter", "Aisha", "Lars", "Sofia")  # fmt: skip
LAST = ("Schmidt", "Rossi", "Nguyen", "Kowalski", "Garcia", "Okafor", "Johansson", "Dubois", "Yilmaz", "Tanaka",
        "Fischer", "Novak", "Silva", "Brown", "Weber", "Meyer", "Costa", "Kaya", "Larsen", "Moreau")  # fmt: skip
DOMAINS = ("example.com", "corp.example.com", "sales.example.com", "lab.example.org", "partner.example.net")
TEAMS = ("Finance", "Sales", "Marketing", "HR", "Legal", "Logistics", "R&D", "Customer Care", "Facilities")
PRODUCTS = ("laptop", "docking station", "27-inch monitor", "headset", "webcam", "keyboard", "iPhone", "tablet",
            "label printer", "USB-C hub")  # fmt: skip
LICENCES = ("Adobe Acrobat Pro", "Microsoft Visio", "Jira", "Figma", "Tableau", "AutoCAD", "SPSS", "Zoom Pro")
VENDORS = ("Dataline", "Bechtle", "CDW", "Insight", "SoftwareOne")
SYSTEMS = ("VPN", "Outlook", "Teams", "SAP", "SharePoint", "the wiki", "Salesforce", "the HR portal", "Wi-Fi",
           "OneDrive", "the expense tool")  # fmt: skip
ERRORS = ("error 0x80070005", "'authentication failed'", "a blank white screen", "'certificate expired'",
          "'connection timed out'", "error 403 forbidden", "'license not found'",
          "a spinning wheel forever")  # fmt: skip
DEVICES = ("printer on floor 3", "meeting room screen in B2.14", "laptop", "desk phone", "scanner by reception",
           "second monitor", "docking station")  # fmt: skip
TOPICS = ("moving our team to a new CRM", "a data retention policy for customer files", "a cloud backup strategy",
          "rolling out MFA to the warehouse staff", "choosing a project management tool",
          "an architecture review of the new web shop", "a security review of a supplier's API",
          "connecting the new branch office network")  # fmt: skip
OUTAGES = ("the whole Sales floor has no network", "email is down for everyone", "the ERP system is unreachable",
           "file shares are not loading for about 200 users", "the production line is stopped, scanners offline",
           "the VPN concentrator is down and nobody can connect")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "SUPPORT": (
        (
            "Cannot log in to {system}",
            "Hi,\n\nsince this morning I cannot log in to {system}. It shows {error} "
            "every time. I already restarted my {product_short} twice.\n\nCan you help?",
        ),
        (
            "{system} keeps disconnecting",
            "Hello IT,\n\n{system} drops every few minutes and I have to sign in "
            "again. This started after yesterday's update. I'm working from {place} today.",
        ),
        (
            "Password reset please",
            "Hi, I forgot my password after the holidays and now my account is locked. "
            "Could you reset it? My username is {user}.",
        ),
        (
            "{device} not working",
            "Hi team,\n\nthe {device} is not working again: it shows {error}. We tried "
            "switching it off and on. Could someone come by before {weekday}?",
        ),
        (
            "Outlook won't open",
            "Outlook won't open on my laptop, it just shows {error} and closes. "
            "I need it for a customer call at {hour}:00. Thanks!",
        ),
        (
            "New starter needs access",
            "Hello,\n\n{first_other} joins {team} on {weekday}. Please create an "
            "account and give access to {system} and the {team} share. Laptop is already ordered.",
        ),
        (
            "Problem with {system}",
            "Hi,\n\nwhen I open {system} I get {error}. Colleagues next to me have the same "
            "problem. Is something wrong on your side?",
        ),
    ),
    "INFORMATION": (
        (
            "Question about the {system} maintenance",
            "Hi,\n\nis the {system} maintenance still planned for "
            "{weekday} evening? We have a release that day and want to plan around it.",
        ),
        (
            "What is the policy for personal phones?",
            "Hello,\n\nam I allowed to read work email on my personal "
            "phone? If yes, which app should I use and do I need to register the device?",
        ),
        (
            "Opening hours of the IT desk",
            "Hi, what are the opening hours of the walk-in IT desk during the "
            "summer? I'd like to bring my {product_short} for a check.",
        ),
        (
            "How do I request software?",
            "Hello,\n\nwhat is the process to request new software such as "
            "{licence}? Is there a form, and who approves it?",
        ),
        (
            "Status of {system}?",
            "Hi, is there a known issue with {system} today? Just checking before I open a ticket. Thanks, {first}",
        ),
        (
            "Guest Wi-Fi for visitors",
            "Hello,\n\nwe have {number} visitors from a partner on {weekday}. How do "
            "they get on the guest Wi-Fi, and is there a time limit?",
        ),
    ),
    "PURCHASING": (
        (
            "Quote for {number} {product}s",
            "Hi IT,\n\n{team} needs {number} {product}s for new hires starting "
            "next month. Could you get us a quote? Cost centre is {cost_centre}.\n\nThanks",
        ),
        (
            "{licence} licence",
            "Hi, can I get a {licence} licence? My manager approved it. I need it for the {team} reporting work.",
        ),
        (
            "PO {po} - invoice does not match",
            "Hello,\n\nwe received invoice INV-{invoice} from {vendor} for PO "
            "{po} but the amount is {amount} EUR higher than the purchase order. Can IT confirm what was delivered?",
        ),
        (
            "Renewal of {licence} subscription",
            "Hi,\n\nour {licence} subscription ({number} users) renews at the "
            "end of the month. The reseller {vendor} sent a renewal quote. Can IT approve it and raise the PO?",
        ),
        (
            "Ordering a {product}",
            "Hello,\n\nis it possible to order a {product} for my desk? Happy to send the "
            "approval from my manager. Cost centre {cost_centre}.",
        ),
    ),
    "ESCALATION": (
        (
            "URGENT: {outage_short}",
            "Hi,\n\n{outage}. This started about {minutes} minutes ago and we cannot "
            "work. Please escalate immediately!",
        ),
        (
            "Suspicious email - I clicked the link",
            "Hello,\n\nI think I got a phishing email. I clicked the link "
            "and entered my password before I noticed. Now I see logins from another country. Please help, my "
            "account may be compromised.",
        ),
        (
            "Ransomware message on screen",
            "Hi IT,\n\nmy screen shows a message that all files are encrypted and "
            "asks for bitcoin. Other colleagues in {team} see the same. What do we do?",
        ),
        (
            "Complaint - third time this week",
            "Hello,\n\nthis is the third time this week that {system} is down "
            "for the whole {team} team. We are losing customers. I want to speak to the IT manager.",
        ),
        (
            "Data loss on the {team} share",
            "Hi,\n\nall files in the {team} share from the last two weeks are "
            "gone. About {number} people are affected. Is there a backup?",
        ),
    ),
    "CONSULTATION": (
        (
            "Advice on {topic}",
            "Hi,\n\n{team} is looking into {topic}. Could someone from IT advise us on the "
            "options and what we should watch out for? A 30-minute call next week would be great.",
        ),
        (
            "Need your input: {topic}",
            "Hello,\n\nwe are planning {topic} for Q{quarter}. Before we choose, we'd "
            "like an architecture or security review from IT. What do you need from us?",
        ),
        (
            "Which tool should we use?",
            "Hi,\n\nwe want to replace our spreadsheets for tracking {team} requests. "
            "Would you recommend Jira, a SharePoint list or something else? About {number} users.",
        ),
        (
            "Review of our plan for {topic}",
            "Hello IT,\n\nattached is our draft plan for {topic}. Could you review "
            "it and tell us if it fits the company standards?",
        ),
    ),
    "LIST": (
        (
            "[{team} news] Week {week} highlights",
            "This week in {team}: new faces, the summer party, and the "
            "quarterly numbers. Read more on the intranet.\n\nYou receive this because you are on the {team} list.",
        ),
        (
            "Webinar invitation: {topic}",
            "Join our free webinar on {topic} on {weekday}. Register now - seats are limited. Unsubscribe at any time.",
        ),
        (
            "Your weekly {vendor} digest",
            "Top stories: new {product} models, price changes and tips. Manage your subscription preferences online.",
        ),
    ),
    "AUTO_REPLY": (
        (
            "Out of office: {subject_echo}",
            "I am out of the office until {weekday} with limited access to email. "
            "For urgent matters please contact {first_other}.",
        ),
        (
            "Automatic reply: {subject_echo}",
            "Thank you for your message. I am on parental leave and will not "
            "read it. Your email will not be forwarded.",
        ),
    ),
    "NO_REPLY": (
        (
            "Your {vendor} order {po} has shipped",
            "Your order {po} has shipped and will arrive on {weekday}. "
            "This mailbox is not monitored; please do not reply.",
        ),
        (
            "[{system}] Password expires in {number} days",
            "Your password for {system} expires in {number} days. This is an automatic notification.",
        ),
    ),
    "CHATTER": (
        ("Cake in the kitchen", "Hi all, there is cake in the 2nd floor kitchen for {first}'s birthday. Enjoy!"),
        ("Lunch on {weekday}?", "Hey, anyone up for lunch at the Thai place on {weekday}? {first}"),
    ),
}

GERMAN = (
    ("Drucker druckt nicht", "Hallo,\n\nder Drucker im 3. Stock druckt seit heute Morgen nicht mehr. Können Sie "
     "bitte jemanden vorbeischicken?\n\nDanke"),
    ("Passwort vergessen", "Hallo IT,\n\nich habe mein Passwort vergessen und mein Konto ist gesperrt. Bitte "
     "zurücksetzen. Vielen Dank!"),
    ("Angebot für {number} Monitore", "Guten Tag,\n\nwir benötigen ein Angebot für {number} Monitore für die "
     "Abteilung {team}. Kostenstelle {cost_centre}."),
)  # fmt: skip
FRENCH = (
    ("Problème de connexion VPN", "Bonjour,\n\nje n'arrive plus à me connecter au VPN depuis ce matin. Le message "
     "indique {error}. Merci de votre aide."),
)  # fmt: skip
EXTRA_SENTENCES = (
    "I attached a screenshot in case it helps.", "Sorry for the long email.", "My phone number is in my signature.",
    "Please let me know if you need anything else from me.", "This is quite urgent for our team.",
    "No rush, next week is fine.", "I already checked the intranet FAQ but could not find it.",
    "My manager is in copy.", "We discussed this in the last team meeting.", "Thanks a lot in advance!",
)  # fmt: skip
DISCLAIMER = (
    "\n\n--\nThis email and any attachments are confidential and intended solely for the addressee. If you "
    "received it in error, please notify the sender and delete it."
)


@dataclass
class CorpusSummary:
    """What was written, so a report can say what the pipeline was fed."""

    emails: int = 0
    total_bytes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    features: Counter[str] = field(default_factory=Counter)
    distinct_senders: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "emails": self.emails,
            "total_bytes": self.total_bytes,
            "kinds": dict(sorted(self.kinds.items())),
            "features": dict(sorted(self.features.items())),
            "distinct_senders": self.distinct_senders,
        }


@dataclass(frozen=True, slots=True)
class _Sender:
    name: str
    address: str


class _Generator:
    """One corpus: a seeded random source, the pool of regular senders, and what has been written so far."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.regulars = [self._person(n) for n in range(150)]
        self.summary = CorpusSummary()
        self.senders: set[str] = set()
        self.message_ids: list[str] = []

    def _person(self, number: int) -> _Sender:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        domain = self.rng.choice(DOMAINS)
        return _Sender(f"{first} {last}", f"{first.lower()}.{last.lower()}{number}@{domain}")

    def sender_for(self, kind: str, index: int) -> _Sender:
        """A quarter of human mail comes from 150 regulars; the rest from (nearly) unique colleagues."""
        if kind == "LIST":
            team = self.rng.choice(TEAMS).split()[0].lower().replace("&", "")
            return _Sender(f"{team.title()} News", f"news-{team}@lists.example.com")
        if kind == "NO_REPLY":
            return _Sender("Notifications", f"no-reply@{self.rng.choice(('shop.example.net', 'portal.example.com'))}")
        if self.rng.random() < 0.25:
            return self.rng.choice(self.regulars)
        return self._person(1000 + index)

    def slots(self) -> dict[str, str]:
        rng = self.rng
        outage = rng.choice(OUTAGES)
        return {
            "system": rng.choice(SYSTEMS),
            "error": rng.choice(ERRORS),
            "product": rng.choice(PRODUCTS),
            "product_short": rng.choice(("laptop", "PC", "Mac")),
            "place": rng.choice(("home", "the Berlin office", "a hotel", "the Lyon site")),
            "user": f"{rng.choice(FIRST).lower()}{rng.randint(1, 99)}",
            "device": rng.choice(DEVICES),
            "hour": str(rng.randint(9, 17)),
            "first": rng.choice(FIRST),
            "first_other": rng.choice(FIRST),
            "team": rng.choice(TEAMS),
            "weekday": rng.choice(WEEKDAYS),
            "licence": rng.choice(LICENCES),
            "number": str(rng.choice((2, 3, 5, 8, 12, 20, 40, 150))),
            "cost_centre": str(rng.randint(4000, 4999)),
            "po": str(rng.randint(80000, 99999)),
            "invoice": str(rng.randint(50000, 59999)),
            "vendor": rng.choice(VENDORS),
            "amount": f"{rng.randint(1, 9)},{rng.randint(100, 999)}",
            "outage": outage[0].upper() + outage[1:],
            "outage_short": outage.split(",")[0],
            "minutes": str(rng.choice((10, 15, 20, 30, 45))),
            "topic": rng.choice(TOPICS),
            "quarter": str(rng.randint(1, 4)),
            "week": str(rng.randint(1, 52)),
            "subject_echo": rng.choice(("Meeting notes", "Invoice question", "Re: project update", "Hello")),
        }

    def pick_kind(self) -> str:
        names = [name for name, _ in KINDS]
        weights = [weight for _, weight in KINDS]
        return self.rng.choices(names, weights)[0]

    def text_for(self, kind: str) -> tuple[str, str, str]:
        """(subject, body, language); 3% of human mail is German or French."""
        slots = self.slots()
        language, pool = "en", TEMPLATES[kind]
        if kind in ("SUPPORT", "PURCHASING") and self.rng.random() < 0.05:
            language, pool = ("de", GERMAN) if self.rng.random() < 0.7 else ("fr", FRENCH)
        subject, body = self.rng.choice(pool)
        body = body.format(**slots)
        if kind not in ("LIST", "AUTO_REPLY", "NO_REPLY") and language == "en":
            extra = self.rng.sample(EXTRA_SENTENCES, self.rng.randint(0, 3))
            body = body + ("\n\n" + " ".join(extra) if extra else "")
        return subject.format(**slots), body, language


def write_mailbox(root: Path, count: int, seed: int = SEED) -> CorpusSummary:
    """Write `count` messages into `root/new` (creating the Maildir), oldest first by mtime; return a summary."""
    for part in ("new", "cur", "tmp"):
        (root / part).mkdir(parents=True, exist_ok=True)
    generator = _Generator(seed)
    for index in range(count):
        raw = _one_message(generator, index)
        _deliver(root, index, raw)
        generator.summary.total_bytes += len(raw)
    generator.summary.emails = count
    generator.summary.distinct_senders = len(generator.senders)
    return generator.summary


def _one_message(generator: _Generator, index: int) -> bytes:
    rng, summary = generator.rng, generator.summary
    kind = generator.pick_kind()
    sender = generator.sender_for(kind, index)
    subject, body, language = generator.text_for(kind)
    summary.kinds[kind] += 1
    summary.features[f"lang_{language}"] += 1
    generator.senders.add(sender.address)
    message = EmailMessage(policy=policy.default)
    message["From"] = f"{sender.name} <{sender.address}>"
    message["To"] = HELPDESK
    message["Date"] = format_datetime(START + timedelta(seconds=7 * index))
    duplicate = index > 10 and rng.random() < 0.003
    message_id = rng.choice(generator.message_ids) if duplicate else f"<bench-{index}.{rng.getrandbits(32):08x}@mail>"
    summary.features["duplicate_delivery"] += duplicate
    generator.message_ids.append(message_id)
    message["Message-ID"] = message_id
    human = kind not in ("LIST", "AUTO_REPLY", "NO_REPLY")
    if human and rng.random() < 0.15 and generator.message_ids[:-1]:
        subject, body = _as_reply(generator, message, subject, body)
    message["Subject"] = subject
    _machine_headers(kind, message, summary)
    if human and rng.random() < 0.1:
        message["Importance"] = "high"
    body = _signed(generator, sender, body) if human else body
    _set_body(generator, message, body, kind)
    for number, part in enumerate(message.walk()):  # the stdlib draws boundaries from `random`: fix them
        if part.is_multipart():
            part.set_boundary(f"=_bench_{index}_{number}_{rng.getrandbits(32):08x}")
    return message.as_bytes()


def _as_reply(generator: _Generator, message: EmailMessage, subject: str, body: str) -> tuple[str, str]:
    """A follow-up in an existing thread: Re: subject, In-Reply-To/References, and the quoted earlier message."""
    parent = generator.rng.choice(generator.message_ids[:-1])
    message["In-Reply-To"] = parent
    message["References"] = parent
    generator.summary.features["reply_in_thread"] += 1
    quoted = "\n".join(f"> {line}" for line in ("Thanks, we are looking into it.", "", "Regards, IT Help Desk"))
    return f"Re: {subject}", f"{body}\n\nOn Monday, IT Help Desk <helpdesk@example.com> wrote:\n{quoted}"


def _machine_headers(kind: str, message: EmailMessage, summary: CorpusSummary) -> None:
    if kind == "LIST":
        message["List-Id"] = "<news.lists.example.com>"
        message["List-Unsubscribe"] = "<mailto:unsubscribe@lists.example.com>"
        message["Precedence"] = "bulk"
        summary.features["list_id"] += 1
    elif kind == "AUTO_REPLY":
        message["Auto-Submitted"] = "auto-replied"
        message["X-Autoreply"] = "yes"
        summary.features["auto_submitted"] += 1
    elif kind == "NO_REPLY":
        message["Auto-Submitted"] = "auto-generated"
        summary.features["auto_submitted"] += 1


def _signed(generator: _Generator, sender: _Sender, body: str) -> str:
    rng = generator.rng
    if rng.random() < 0.6:
        body += f"\n\nBest regards,\n{sender.name}\n{rng.choice(TEAMS)} | +49 30 {rng.randint(1000000, 9999999)}"
        generator.summary.features["signature"] += 1
    if rng.random() < 0.2:
        body += DISCLAIMER
    return body


def _set_body(generator: _Generator, message: EmailMessage, body: str, kind: str) -> None:
    """Plain text for most; 20% HTML (multipart/alternative or HTML only; every newsletter); 3% an attachment."""
    rng, features = generator.rng, generator.summary.features
    roll = rng.random()
    if kind == "LIST" or roll < 0.2:
        html = _html(body)
        if kind != "LIST" and roll < 0.1:
            message.set_content(body)
            message.add_alternative(html, subtype="html")
            features["html_alternative"] += 1
        else:
            message.set_content(html, subtype="html")
            features["html_only"] += 1
    else:
        message.set_content(body)
    if kind not in ("LIST", "NO_REPLY") and rng.random() < 0.03:
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(2_000, 20_000)))
        message.add_attachment(data, maintype="application", subtype="pdf", filename="details.pdf")
        features["attachment"] += 1


def _html(body: str) -> str:
    paragraphs = "".join(f"<p>{part.replace(chr(10), '<br>')}</p>" for part in body.split("\n\n"))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{font-family:Arial;font-size:11pt}</style>'
        f'</head><body><div class="WordSection1">{paragraphs}</div>'
        '<table role="presentation"><tr><td><img src="cid:logo" alt="logo"></td></tr></table></body></html>'
    )


def _deliver(root: Path, index: int, raw: bytes) -> None:
    """Like a delivery agent: a unique name in new/, mtime spaced so that fetch order is arrival order."""
    path = root / "new" / f"{1_772_438_400 + index}.M{index:06d}P4242.bench"
    path.write_bytes(raw)
    moment = START.timestamp() + index
    os.utime(path, (moment, moment))
