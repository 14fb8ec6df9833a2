"""Config name → classifier, imported only when chosen."""

from __future__ import annotations

from emailbot.classifiers.base import Classifier
from emailbot.settings import Settings


def build_classifier(settings: Settings) -> Classifier:
    if settings.classifier == "local":
        from emailbot.classifiers.local import LocalClassifier

        return LocalClassifier.from_settings(settings.model_dir)
    raise ValueError(f"EMAILBOT_CLASSIFIER: unknown classifier {settings.classifier!r}")
