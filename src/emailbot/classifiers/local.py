"""The offline classifier: a calibrated TF-IDF + linear SVM model, no network, a few milliseconds per email."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emailbot.classifiers.enrich import detect_language, email_text, enrich
from emailbot.classifiers.model import GENERIC_NOISE, FloatArray, TrainedModel, describe, given_request
from emailbot.classifiers.model_store import IncompatibleModelError, ModelNotFoundError, ModelStore
from emailbot.classifiers.training import (
    STARTER_BACKGROUND,
    STARTER_SOURCE,
    DataError,
    load_source,
    source_of,
    train,
)
from emailbot.domain import Classification, Email

log = logging.getLogger(__name__)

NOISE_KIND_BELOW = 0.5  # a noise kind is named only when the email looks more like noise than like a request
THREAD_FROM_EMAILS = 32  # smaller batches take a few ms: a thread hop would cost more than it frees the loop


class LocalClassifier:
    """Classifies a batch with one vectorised model call, then fills the descriptive fields heuristically."""

    name: str = "local"

    def __init__(self, model: TrainedModel, *, thread_from: int = THREAD_FROM_EMAILS) -> None:
        self.model = model
        self.thread_from = thread_from

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def categories(self) -> tuple[str, ...]:
        return self.model.categories

    @classmethod
    def from_settings(
        cls, model_dir: Path, *, training_file: Path | None = None, background_file: Path | None = None
    ) -> LocalClassifier:
        """Load the latest saved model; without one, train from `training_file` or the starter set and save it.

        The packaged background (out-of-scope mail) goes with the starter set only: a custom taxonomy may well
        cover what it holds (a sales team's mail, say), so it takes `background_file` or none.

        A model saved by another scikit-learn version is retrained from the data it was trained on (recorded in
        its meta.json) when that data is still there; otherwise the error says how to retrain.
        """
        detect_language("warm-up")  # load the language model now, not inside the first batch's latency
        store = ModelStore(model_dir)
        try:
            return cls(store.load_latest())
        except ModelNotFoundError:
            source = source_of(training_file) if training_file else STARTER_SOURCE
            background = STARTER_BACKGROUND if training_file is None else ""
            if background_file is not None:
                background = source_of(background_file)
            log.info("no saved model in %s: training one from %s", model_dir, source)
        except IncompatibleModelError as exc:
            source = str(exc.meta.get("source") or "")
            background = str(exc.meta.get("background_source") or "")
            log.warning("%s; retraining from %s", exc, source or "?")
            if not _can_retrain(source):
                raise
        return cls(_train_and_save(store, source, background))

    def classify_batch(self, emails: Sequence[Email]) -> list[Classification]:
        """Synchronous batch classification (benchmarks call this directly); one predict call for the batch."""
        if not emails:
            return []
        start = time.perf_counter()
        texts = [email_text(email) for email in emails]
        matrix = self.model.features.transform(texts)
        categories, noise = self.model.split(self.model.all_probabilities_of(matrix))
        drafts = [self._draft(email, matrix, row, categories[row], noise[row]) for row, email in enumerate(emails)]
        latency_ms = (time.perf_counter() - start) * 1000 / len(emails)
        return [_with_latency(draft, latency_ms) for draft in drafts]

    async def classify(self, emails: Sequence[Email]) -> list[Classification]:
        if len(emails) >= self.thread_from:
            return await asyncio.to_thread(self.classify_batch, emails)
        return self.classify_batch(emails)

    def _draft(self, email: Email, matrix: Any, row: int, categories: FloatArray, noise: FloatArray) -> Classification:
        probabilities = given_request(categories[None, :], noise[None, :])[0]
        best = int(np.argmax(probabilities))
        request = request_confidence(categories, noise)
        category = self.model.categories[best]
        terms = self.model.top_terms(matrix, row, best)
        extra = enrich(email, category)
        return Classification(
            category=category,
            confidence=round(float(probabilities[best]) * 100, 1),
            classifier=self.name,
            model=self.model.version,
            reasoning=describe(self.model.categories, probabilities, terms),
            urgency=extra.urgency,
            suggested_action=extra.suggested_action,
            required_expertise=extra.required_expertise,
            estimated_effort=extra.estimated_effort,
            language=extra.language,
            summary=extra.summary,
            unrecognized=round(max(0.0, 1.0 - float(categories.sum())) * 100, 1),
            request_confidence=round(request * 100, 1),
            noise=self._noise_kind(noise) if request < NOISE_KIND_BELOW else "",
        )

    def _noise_kind(self, noise: FloatArray) -> str:
        if not len(noise):
            return GENERIC_NOISE
        return self.model.noise_kinds[int(np.argmax(noise))]


def request_confidence(categories: FloatArray, noise: FloatArray) -> float:
    """0-1: how much of the probability mass on what the model knows lies on the categories, not on noise.

    The null's share (text unlike anything seen) is left out on purpose: unfamiliar wording is no evidence that
    an email asks nothing (a new kind of request looks unfamiliar too); that it looks like known noise is.
    """
    known = float(categories.sum()) + float(noise.sum())
    if known <= 0:
        return 1.0
    return float(categories.sum()) / known


def _with_latency(classification: Classification, latency_ms: float) -> Classification:
    return replace(classification, latency_ms=round(latency_ms, 3))


def _can_retrain(source: str) -> bool:
    return source.startswith("starter:") or (bool(source) and Path(source.split("|")[0].partition("#")[0]).is_file())


def _train_and_save(store: ModelStore, source: str, background_source: str) -> TrainedModel:
    try:
        examples = load_source(source)
        background = load_source(background_source) if background_source else []
    except DataError as exc:
        raise DataError(f"cannot train the local classifier: {exc}") from exc
    model = train(examples, source=source, background=background, background_source=background_source)
    version = store.save(model)
    log.info("trained and saved local model %s (%d examples)", version, len(examples))
    return store.load(version)
