"""What an email costs in tokens, and cutting it down to a budget before it leaves the machine.

Token counts are estimated, never downloaded: no tokenizer files are fetched at run time (tiktoken would fetch its
encodings from the network). The estimate is ~4 characters per token for ASCII text (the usual figure for English
with GPT-style BPE vocabularies) and ~2 for other characters (accented Latin words split into more pieces; CJK is
closer to 1-1.5). The server's own count, from its `usage`, is what gets recorded and billed; the estimate only
sizes the text and feeds the tokens-per-minute limiter.
"""

from __future__ import annotations

import math
import re

from emailbot.domain import Email

ASCII_CHARS_PER_TOKEN = 4.0
OTHER_CHARS_PER_TOKEN = 2.0
TRUNCATION_MARK = " […]"
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def estimate_tokens(text: str) -> int:
    ascii_chars = sum(1 for char in text if ord(char) < 128)
    other = len(text) - ascii_chars
    return math.ceil(ascii_chars / ASCII_CHARS_PER_TOKEN + other / OTHER_CHARS_PER_TOKEN)


def squeeze(text: str) -> str:
    """Runs of spaces become one, runs of blank lines one blank line: layout costs tokens and says nothing."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def cut_to_tokens(text: str, budget: int) -> str:
    """The longest head of `text` within `budget` estimated tokens, cut at a word boundary and marked."""
    if estimate_tokens(text) <= budget:
        return text
    low, high = 0, len(text)
    while low < high:  # binary search on the character count: the estimate grows with every character
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) + 2 <= budget:
            low = middle
        else:
            high = middle - 1
    head = text[:low]
    space = head.rfind(" ")
    if space > low * 0.8:
        head = head[:space]
    return head.rstrip() + TRUNCATION_MARK


def classification_body(email: Email, budget: int) -> str:
    """The body an LLM classifies: what the sender wrote (quotes, signature, footer already cut by the parser),
    squeezed and cut to the budget."""
    return cut_to_tokens(squeeze(email.clean_text or email.body_text), budget)
