"""Builds the LLM classifier (plain or hybrid) and the reply drafter from the settings, sharing one client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from emailbot.classifiers.llm.breaker import CircuitBreaker
from emailbot.classifiers.llm.cache import MemoryCache, RedisCache, ResponseCache
from emailbot.classifiers.llm.classifier import Guards, LLMClassifier
from emailbot.classifiers.llm.client import LLMClient
from emailbot.classifiers.llm.confidence import Calibrator, calibration_path
from emailbot.classifiers.llm.cost import DailyBudget, PriceTable
from emailbot.classifiers.llm.drafting import LLMDrafter
from emailbot.classifiers.llm.hybrid import HybridClassifier
from emailbot.classifiers.llm.limits import RateLimiter
from emailbot.classifiers.llm.prompts import EXAMPLES_PER_CATEGORY, CategoryPrompt
from emailbot.classifiers.local import LocalClassifier
from emailbot.classifiers.training import load_starter
from emailbot.settings import Settings
from emailbot.store.db import Database
from emailbot.store.tables import ClassificationRow, ProcessingResultRow
from emailbot.taxonomy import Taxonomy, load_taxonomy


def redis_client(url: str | None) -> Any:
    if not url:
        return None
    import redis.asyncio

    return redis.asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def build_guards(settings: Settings, redis: Any = None) -> Guards:
    cache: ResponseCache = (
        RedisCache(redis, settings.llm_cache_ttl_seconds)
        if redis is not None
        else MemoryCache(settings.llm_cache_size, settings.llm_cache_ttl_seconds)
    )
    return Guards(
        cache=cache,
        breaker=CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_seconds),
        budget=DailyBudget(settings.llm_daily_budget, redis),
        limiter=RateLimiter(settings.llm_requests_per_minute, settings.llm_tokens_per_minute),
        prices=PriceTable(settings.llm_prices),
    )


def category_prompts(taxonomy: Taxonomy) -> list[CategoryPrompt]:
    """Each category's description and examples; built-in categories borrow the starter set's examples."""
    starter: dict[str, list[str]] = {}
    for example in load_starter():
        starter.setdefault(example.category, []).append(example.text)
    prompts = []
    for name, spec in taxonomy.categories.items():
        examples = spec.examples or tuple(_spread(starter.get(name, []), EXAMPLES_PER_CATEGORY))
        prompts.append(CategoryPrompt(name, spec.description, examples))
    return prompts


def _spread(items: Sequence[str], count: int) -> list[str]:
    """`count` items spread over the list, so the examples are not all of one kind."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def build_llm_classifier(settings: Settings, local: LocalClassifier | None = None) -> LLMClassifier | HybridClassifier:
    local = local or LocalClassifier.from_settings(settings.model_dir)
    llm = LLMClassifier(
        LLMClient.from_settings(settings),
        local,
        category_prompts(load_taxonomy(settings.taxonomy_file)),
        build_guards(settings, redis_client(settings.redis_url)),
        calibrator=Calibrator.load(calibration_path(settings.model_dir, "llm")),
        max_input_tokens=settings.llm_max_input_tokens,
        concurrency=settings.llm_concurrency,
        redact_pii=settings.llm_redact_pii,
    )
    if settings.classifier != "hybrid":
        return llm
    llm.calibrator = Calibrator()  # the hybrid calibrates the pooled score instead
    hybrid_map = Calibrator.load(calibration_path(settings.model_dir, "hybrid"))
    return HybridClassifier(llm, weight=settings.llm_hybrid_weight, calibrator=hybrid_map)


def llm_part(classifier: object) -> LLMClassifier | None:
    """The LLM classifier inside a configured classifier, if there is one."""
    if isinstance(classifier, HybridClassifier):
        return classifier.llm
    return classifier if isinstance(classifier, LLMClassifier) else None


def build_drafter(settings: Settings, classifier: object) -> LLMDrafter | None:
    """The drafter, sharing the classifier's client and guards (one budget, one breaker, one rate limit)."""
    llm = llm_part(classifier)
    if llm is None or not settings.llm_drafting:
        return None
    return LLMDrafter(
        llm.client,
        llm.guards,
        mailbox_name=settings.mailbox_display_name,
        max_input_tokens=settings.llm_max_input_tokens,
        redact_pii=settings.llm_redact_pii,
    )


def attach_spending_history(classifier: object, db: Database) -> None:
    """Let the daily budget read what was spent today (classifications and drafts) from the database."""
    llm = llm_part(classifier)
    if llm is None:
        return

    async def spent_today() -> float:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        async with db.sessions() as session:
            classified = await session.scalar(
                select(func.coalesce(func.sum(ClassificationRow.cost), 0.0)).where(
                    ClassificationRow.created_at >= start
                )
            )
            drafted = await session.scalar(
                select(func.coalesce(func.sum(ProcessingResultRow.draft_cost), 0.0)).where(
                    ProcessingResultRow.created_at >= start
                )
            )
        return float(classified or 0) + float(drafted or 0)

    llm.guards.budget.history = spent_today
