"""Signs that an email tries to instruct the model that reads it (prompt injection).

The real protection is structural: the model's answer can only pick a category and describe the email; reply
recipients come from the parsed headers, rules and thresholds from the operator, and LLM text is not sent without
a person unless the operator allows it for a category. This check adds a second line: an email that talks to "the
AI" is not an email to answer automatically, so its LLM confidence is capped below the auto-answer threshold and
a person sees it. It reads everything the model could see and what it could not (hidden HTML, comments,
attachment names), because hidden text is where such instructions hide.
"""

from __future__ import annotations

import re

from emailbot.domain import Email

SUSPECT_CONFIDENCE_CAP = 50.0
_SIGNALS = (
    (
        "override",
        r"(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*(?:previous|prior|above|earlier|"
        r"preceding|system)?\s*(?:instructions?|prompts?|rules?|directions?|guidelines?)",
    ),
    (
        "fake role",
        r"(?:^|\n)\s*(?:system|assistant|developer)\s*(?:message|prompt)?\s*:|<\|?(?:im_start|system|endoftext)\|?>|"
        r"\[/?(?:INST|SYS)\]|<</?SYS>>",
    ),
    (
        "role play",
        r"\byou\s+are\s+now\b|\bact\s+as\s+(?:an?\s+)?(?:admin|system|developer|root)|\bnew\s+instructions?\b|"
        r"\bjailbreak\b|\bDAN\b",
    ),
    (
        "addressing the AI",
        r"\b(?:dear|attention|note\s+to|hey)\s+(?:the\s+)?(?:ai|llm|assistant|language\s+model|chatgpt|gpt|"
        r"classifier|bot)\b|\b(?:ai|llm|language\s+model|classifier)\s*,?\s+(?:must|should|please)\b",
    ),
    (
        "dictating the answer",
        r"\b(?:classify|categori[sz]e|label|mark|tag)\s+(?:this|it|the\s+email|this\s+email|me)?\s*as\b|"
        r"\bset\s+(?:the\s+)?(?:confidence|category|urgency|priority)\b|"
        r"\bconfidence\b\W{0,5}(?:=|:|to|of|is|at)?\s*\d{2,3}\b|\"(?:category|confidence)\"\s*:",
    ),
    (
        "redirecting replies",
        r"\b(?:send|forward|cc|bcc|copy|reply|mail|email)\b[^.\n]{0,80}?\b(?:to|at)\s+[\w.+-]+@[\w-]+\.|"
        r"(?:^|\n)\s*(?:reply-to|bcc)\s*:\s*\S+@",
    ),
    (
        "revealing instructions",
        r"\b(?:reveal|print|show|repeat|output)\s+(?:your\s+|the\s+)?(?:system\s+)?(?:prompt|instructions)\b",
    ),
)
_PATTERNS = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in _SIGNALS)
MAX_SCANNED_CHARS = 200_000


def injection_signals(email: Email) -> tuple[str, ...]:
    """Names of the injection patterns found anywhere in the email, in a stable order."""
    texts = [email.subject, email.body_text, email.body_html or ""]
    texts += [attachment.filename for attachment in email.attachments]
    text = "\n".join(texts)[:MAX_SCANNED_CHARS]
    return tuple(name for name, pattern in _PATTERNS if pattern.search(text))
