"""Config name → classifier, imported only when chosen."""

from __future__ import annotations

from emailbot.classifiers.base import Classifier
from emailbot.pipeline.act import ReplyWriter
from emailbot.settings import Settings


def build_classifier(settings: Settings) -> Classifier:
    if settings.classifier == "local":
        from emailbot.classifiers.local import LocalClassifier

        return LocalClassifier.from_settings(settings.model_dir)
    if settings.classifier in ("llm", "hybrid"):
        from emailbot.classifiers.llm.factory import build_llm_classifier

        return build_llm_classifier(settings)
    raise ValueError(f"EMAILBOT_CLASSIFIER: unknown classifier {settings.classifier!r}")


def build_reply_writer(settings: Settings, classifier: Classifier) -> ReplyWriter | None:
    """An LLM drafter when the classifier uses an LLM and drafting is on; otherwise replies come from templates."""
    if settings.classifier == "local":
        return None
    from emailbot.classifiers.llm.factory import build_drafter

    return build_drafter(settings, classifier)
