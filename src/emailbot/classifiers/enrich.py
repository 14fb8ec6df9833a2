"""Heuristics that fill a Classification's descriptive fields, whatever decided the category.

They live apart from the model so that every classifier (the local one now, an LLM one later) describes an email
the same way: the same urgency rules, the same expertise names, the same summary. They are deliberately simple,
readable keyword rules: an operator can predict and correct them, which matters more here than a few points of
accuracy. `Urgency` agreement with the hand labels of the starter set is measured in the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from emailbot.domain import Email, Urgency

MAX_TEXT_CHARS = 4000
MAX_SUMMARY_CHARS = 200


def compose_text(subject: str, body: str, limit: int = MAX_TEXT_CHARS) -> str:
    """The one text a classifier reads: subject first (it is the densest signal), then the body, truncated."""
    subject, body = subject.strip(), body.strip()
    text = f"{subject}\n{body}" if subject and body else subject or body
    return text[:limit]


def email_text(email: Email, limit: int = MAX_TEXT_CHARS) -> str:
    """`compose_text` for an Email: the cleaned body (quotes and signatures removed) when there is one."""
    return compose_text(email.subject, email.clean_text or email.body_text, limit)


def _pattern(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive regex from '|'-separated alternatives; matches whole words or phrases only."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


# --- expertise -------------------------------------------------------------------------------------------------

EXPERTISE_KEYWORDS: dict[str, str] = {
    "security": r"phishing|malware|ransomware|virus|trojan\S*|hack(?:ed|er)?|compromised?|breach|brute[- ]force|"
    r"suspicious|antivirus|pen(?:etration )?test|leak(?:ed)?|stolen|intrusion|security|sicherheit|sécurité|"
    r"seguridad",
    "identity": r"passwor[dt]s?|mot de passe|contraseña|log ?in|sign[- ]?in|locked(?: out)?|unlock|mfa|2fa|"
    r"authenticator|single sign-on|sso|access denied|permissions?|account|azure ad|active directory|bitlocker",
    "network": r"vpn|wi-?fi|wlan|network|netzwerk|réseau|internet|router|switches|access switch|firewall|dns|"
    r"proxy|access points?|lan|gateway",
    "email": r"e-?mails?|outlook|mailbox|shared mailbox|exchange|smtp|distribution list|bounce[sd]?|"
    r"out-of-office|correo|courriel|signature",
    "hardware": r"laptops?|notebook|monitors?|screens?|keyboard|mouse|dock(?:ing station)?s?|headset|webcam|"
    r"camera|battery|batteries|charger|tablets?|iphone|phones?|ssd|disks?|hardware|ordinateurs?|handys?|"
    r"scanners?",
    "printing": r"printers?|printing|toner|drucker|imprimante|impresora|copier",
    "licensing": r"licen[cs]es?|lizenz(?:en)?|licencias?|subscription|seats?|renewal|true-up",
    "collaboration": r"teams|sharepoint|onedrive|zoom|slack|confluence|calendar",
    "business-apps": r"sap|erp|crm|salesforce|power ?bi|payroll|mes|wms|intranet|portal",
    "cloud": r"azure|aws|cloud|saas|kubernetes",
    "data": r"backups?|restore|database|archiv\w*|retention|deleted|data loss",
    "procurement": r"quotes?|invoices?|purchase orders?|po|orders?|ordering|vendor|supplier|devis|angebot|"
    r"presupuesto|budget",
    "architecture": r"architecture|design review|microservices|monolith|api|integration|tech stack",
}
_EXPERTISE_PATTERNS = {name: _pattern(words) for name, words in EXPERTISE_KEYWORDS.items()}


def required_expertise(text: str, limit: int = 3) -> tuple[str, ...]:
    """The expertise areas the email mentions most, most-mentioned first (ties keep the map's order)."""
    counts = {name: len(pattern.findall(text)) for name, pattern in _EXPERTISE_PATTERNS.items()}
    ranked = sorted((name for name, count in counts.items() if count), key=lambda name: -counts[name])
    return tuple(ranked[:limit])


# --- urgency ---------------------------------------------------------------------------------------------------

_CRITICAL = _pattern(
    r"ransomware|(?:security|data) breach|hacked|compromised?|malware|trojan\S*|emotet|patient safety|"
    r"production (?:line )?(?:is )?(?:down|stopped)|line is stopped|entered my (?:username and )?password|"
    r"fraudulent|exposed|data loss|leaked|(?:customer|patient|personal) data|not encrypted|unencrypted|"
    r"signed in from|logged in as|crypto mining"
)
_HIGH = _pattern(
    r"urgent(?:ly)?|asap|immediately|right now|critical|emergency|outage|down|not reachable|offline|dead|"
    r"stopped|dringend|sofort|urgente?|en urgence|escalate|unacceptable|today|deadline|p1|!!+"
)
_LOW = _pattern(
    r"no rush|not urgent|no hurry|whenever|when you have time|fyi|just curious|for planning|next year|"
    r"next quarter|nicht dringend|pas urgent|quick question|just (?:so|for|checking|want)|not asking"
)
_MANY_WORDS = _pattern(
    r"everyone|everybody|nobody|no one|all users|all (?:the )?(?:staff|employees)|"
    r"(?:whole|entire) (?:company|office|building|team|site|floor|department|warehouse)|todo el|tout le site|"
    r"alle mitarbeiter|dozens"
)
_HEADCOUNT = re.compile(
    r"(\d[\d,.]*)\s+(?:people|users|employees|agents|workers|colleagues|persons|personen|personnes|staff)",
    re.IGNORECASE,
)
_ESCALATION_LIKE = {"ESCALATION"}
_CALM = {"INFORMATION", "CONSULTATION"}
MANY_USERS = 10


def many_users_affected(text: str) -> bool:
    """True when the email says a crowd is hit: 'everyone', 'whole office', or a head count of 10 or more."""
    if _MANY_WORDS.search(text):
        return True
    for match in _HEADCOUNT.finditer(text):
        digits = re.sub(r"[,.]", "", match.group(1))
        if digits.isdigit() and int(digits) >= MANY_USERS:
            return True
    return False


def urgency_score(text: str, *, importance: str = "normal", category: str = "") -> int:
    """Points for urgency: incident words weigh most, a crowd next, calm words and calm categories subtract."""
    score = 4 if _CRITICAL.search(text) else 0
    score += min(2, len({m.lower() for m in _HIGH.findall(text)}))
    score += 2 if many_users_affected(text) else 0
    score += 1 if importance.strip().lower() == "high" else 0
    score -= 1 if importance.strip().lower() == "low" else 0
    score += 2 if category in _ESCALATION_LIKE else 0
    score -= 2 if _LOW.search(text) else 0
    score -= 1 if category in _CALM else 0
    return score


def estimate_urgency(text: str, *, importance: str = "normal", category: str = "") -> Urgency:
    """Map the urgency points onto the four levels (cut-offs chosen on the starter set's hand labels)."""
    score = urgency_score(text, importance=importance, category=category)
    if score >= 6:
        return Urgency.CRITICAL
    if score >= 2:
        return Urgency.HIGH
    if score >= 0:
        return Urgency.MEDIUM
    return Urgency.LOW


# --- effort and action -----------------------------------------------------------------------------------------

_QUICK = _pattern(
    r"reset|unlock|how (?:do|can) i|how to|where (?:do|can) i|add \w+ to|status of|out of office|"
    r"distribution list|is it allowed|am i allowed|what is the"
)
_LONG = _pattern(
    r"migrat\w+|plan(?:ning)?|roll-?out|evaluat\w+|tender|architecture|strategy|workshop|integration|"
    r"redesign|restore|root cause|forensic\w*|acquisition"
)
DEFAULT_EFFORT = {
    "PURCHASING": "hours",
    "SUPPORT": "hours",
    "INFORMATION": "minutes",
    "ESCALATION": "hours",
    "CONSULTATION": "days",
}


def estimate_effort(text: str, category: str) -> str:
    """'minutes', 'hours' or 'days': project words lengthen the category's usual effort, how-to words shorten it."""
    effort = DEFAULT_EFFORT.get(category, "hours")
    if _LONG.search(text):
        return "days"
    if _QUICK.search(text) and category not in _ESCALATION_LIKE:
        return "minutes"
    return effort


ACTIONS = {
    "PURCHASING": "Check the request against the catalogue and budget approval, then send a quote or raise the PO",
    "SUPPORT": "Troubleshoot the {area} issue: reply with the known fix or assign it to the {area} queue",
    "INFORMATION": "Answer from the {area} policy, knowledge base or service status page",
    "ESCALATION": "Open a major incident, page the on-call {area} lead and keep the reporter updated",
    "CONSULTATION": "Offer a consultation with a {area} specialist and ask for requirements beforehand",
}


def suggested_action(category: str, expertise: tuple[str, ...], urgency: Urgency) -> str:
    """A one-line next step for the team, named after the leading expertise area."""
    area = expertise[0] if expertise else "IT"
    template = ACTIONS.get(category, "Route to the {category} queue")
    action = template.format(area=area, category=category)
    if urgency is Urgency.CRITICAL and category not in _ESCALATION_LIKE:
        action = "Treat as urgent. " + action
    return action


# --- language and summary --------------------------------------------------------------------------------------

MIN_LANGUAGE_PROBABILITY = 0.2


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    """py3langid's model ships inside the package; loading it takes ~0.5 s, so do it once and only when needed."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or '' when the text is too short or ambiguous to tell."""
    if not text.strip():
        return ""
    ranked: list[tuple[str, float]] = _language_identifier().rank(text[:MAX_TEXT_CHARS])
    for code, probability in ranked:
        if len(code) == 2:  # the model also knows languages that have only ISO 639-3 codes
            return code if probability >= MIN_LANGUAGE_PROBABILITY else ""
    return ""


_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon)|hallo|guten (?:tag|morgen)|liebe[rs]?|bonjour|salut|"
    r"hola|buenos días|buenas)\b[^.!?\n]{0,40}?(?:[,:!]|\n|$)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\S)")
MIN_SUMMARY_WORDS = 4


def summarize(subject: str, body: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    """The body's first real sentence (greetings skipped), else the subject; at most `limit` characters."""
    text = _GREETING.sub("", body.strip(), count=1).strip()
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if len(sentence.split()) >= MIN_SUMMARY_WORDS:
            return _truncate(sentence, limit)
    return _truncate(" ".join(subject.split()) or " ".join(text.split()), limit)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The descriptive fields of a Classification, computed from the email and its category."""

    urgency: Urgency
    required_expertise: tuple[str, ...]
    estimated_effort: str
    suggested_action: str
    language: str
    summary: str


def enrich(email: Email, category: str) -> Enrichment:
    """All heuristics for one email at once, reading the same text the classifier read."""
    text = email_text(email)
    urgency = estimate_urgency(text, importance=email.importance, category=category)
    expertise = required_expertise(text)
    return Enrichment(
        urgency=urgency,
        required_expertise=expertise,
        estimated_effort=estimate_effort(text, category),
        suggested_action=suggested_action(category, expertise, urgency),
        language=detect_language(email.clean_text or email.body_text or email.subject),
        summary=summarize(email.subject, email.clean_text or email.body_text),
    )
