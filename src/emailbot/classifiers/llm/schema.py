"""The answer an LLM must give, as a JSON schema for the server and a pydantic model to validate it against.

The schema is built per taxonomy, so `category` is an enum of the configured names: a server with strict structured
output cannot even produce another one. There is deliberately no field for recipients, addresses, thresholds or
actions: whatever an email persuades a model to say, the answer has nowhere to carry it (and unknown fields fail
validation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emailbot.domain import NOISE_KINDS, Urgency

EFFORTS = ("minutes", "hours", "days")
NO_NOISE = "none"
NoiseKind = Literal["none", "spam", "phishing", "newsletter", "notification", "thanks", "not_a_request"]
TOOL_NAME = "record_classification"


class InvalidAnswer(Exception):
    """The model's answer is not valid JSON or does not match the schema."""


class LLMAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    confidence: int = Field(ge=0, le=100)
    reasoning: str = Field(max_length=2000)
    urgency: Urgency
    suggested_action: str = Field(max_length=500)
    required_expertise: list[str] = Field(max_length=5)
    estimated_effort: Literal["minutes", "hours", "days"]
    language: str = Field(max_length=10)
    summary: str = Field(max_length=500)
    # Defaults only for answers cached before these fields existed; the schema asks every server for them.
    request_confidence: int = Field(default=100, ge=0, le=100)
    noise: NoiseKind = "none"

    @property
    def noise_kind(self) -> str:
        """The kind of noise, '' for a request."""
        return "" if self.noise == NO_NOISE else self.noise

    @field_validator("required_expertise")
    @classmethod
    def _short_names(cls, names: list[str]) -> list[str]:
        return [name.strip()[:50] for name in names if name.strip()]


def answer_schema(categories: Sequence[str]) -> dict[str, Any]:
    """The strict JSON schema (every property required, no others) for the given category names."""
    properties: dict[str, Any] = {
        "category": {"type": "string", "enum": list(categories)},
        "confidence": {"type": "integer", "description": "0-100: how sure you are of the category"},
        "reasoning": {"type": "string", "description": "one or two sentences: why this category"},
        "urgency": {"type": "string", "enum": [u.value for u in Urgency]},
        "suggested_action": {"type": "string", "description": "the team's next step, one line"},
        "required_expertise": {"type": "array", "items": {"type": "string"}, "description": "at most 3 areas"},
        "estimated_effort": {"type": "string", "enum": list(EFFORTS)},
        "language": {"type": "string", "description": "ISO 639-1 code of the email's language"},
        "summary": {"type": "string", "description": "one sentence"},
        "request_confidence": {
            "type": "integer",
            "description": "0-100: how sure you are that the email asks something of the help desk at all",
        },
        "noise": {
            "type": "string",
            "enum": [NO_NOISE, *NOISE_KINDS],
            "description": "what the email is when it asks nothing of the desk; none for a request",
        },
    }
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def parse_answer(text: str, categories: Sequence[str]) -> LLMAnswer:
    """Validate a model's JSON text; anything off (syntax, fields, an unknown category) raises InvalidAnswer."""
    try:
        document = json.loads(_strip_fences(text))
        answer = LLMAnswer.model_validate(document)
    except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidAnswer(f"answer does not match the schema: {_first_line(exc)}") from exc
    if answer.category not in categories:
        raise InvalidAnswer(f"answer names an unknown category {answer.category[:40]!r}")
    return answer


def _strip_fences(text: str) -> str:
    """Models in JSON mode sometimes still wrap the object in a Markdown code fence."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[-1].rsplit("```", 1)[0]
    return stripped


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0][:200]
