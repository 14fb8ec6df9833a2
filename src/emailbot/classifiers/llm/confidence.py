"""Confidence that means something: the probability the model gave its category token, then calibration.

A model's self-reported "confidence: 95" is a word it wrote, not a measurement. When the server returns token
log-probabilities, the probability of the category is the product of the probabilities of the tokens that spell
it (in strict JSON mode everything around it is forced, so that is the model's real choice). Without logprobs the
self-reported number is used. Either raw score then goes through a monotone map fitted on labelled emails and
operators' corrections (isotonic regression), so that "85" means right 85 times in 100.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

_CATEGORY_VALUE = re.compile(r'"category"\s*:\s*"')
MIN_CALIBRATION_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float


def category_probability(content: str, tokens: Sequence[TokenLogprob], category: str) -> float | None:
    """P(category) from the logprobs of the tokens spelling the category value, or None if they cannot be found."""
    if not tokens or "".join(t.token for t in tokens) != content:
        return None
    match = _CATEGORY_VALUE.search(content)
    if match is None or not content.startswith(category, match.end()):
        return None
    start, end = match.end(), match.end() + len(category)
    total, offset = 0.0, 0
    for token in tokens:
        token_end = offset + len(token.token)
        if token_end > start and offset < end:
            total += token.logprob
        offset = token_end
    return math.exp(min(total, 0.0))


class Calibrator:
    """A monotone map from raw confidence (0-1) to calibrated confidence (0-1); identity when not fitted."""

    def __init__(self, xs: Sequence[float] = (), ys: Sequence[float] = (), meta: dict[str, Any] | None = None) -> None:
        self.xs = np.asarray(xs, dtype=float)
        self.ys = np.asarray(ys, dtype=float)
        self.meta = meta or {}

    @property
    def fitted(self) -> bool:
        return bool(self.xs.size)

    def __call__(self, raw: float) -> float:
        if not self.fitted:
            return raw
        return float(np.interp(raw, self.xs, self.ys))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"xs": self.xs.tolist(), "ys": self.ys.tolist(), **self.meta}
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibrator:
        """The saved map, or the identity when there is none yet."""
        if not path.is_file():
            return cls()
        document = json.loads(path.read_text(encoding="utf-8"))
        xs, ys = document.pop("xs"), document.pop("ys")
        return cls(xs, ys, document)


def fit_calibrator(raw: Sequence[float], correct: Sequence[bool], **meta: Any) -> Calibrator:
    """Isotonic regression of correctness on raw confidence (both 0-1), kept as its breakpoints."""
    from sklearn.isotonic import IsotonicRegression

    if len(raw) < MIN_CALIBRATION_EXAMPLES:
        raise ValueError(f"calibration needs at least {MIN_CALIBRATION_EXAMPLES} examples, got {len(raw)}")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    model.fit(np.asarray(raw, dtype=float), np.asarray(correct, dtype=float))
    meta = {"n": len(raw), "fitted_at": datetime.now(UTC).isoformat(), **meta}
    return Calibrator(model.X_thresholds_, model.y_thresholds_, meta)


def calibration_path(model_dir: Path, kind: str) -> Path:
    return Path(model_dir) / f"calibration-{kind}.json"
