"""The scheduled retraining (weekly by default, `EMAILBOT_RETRAIN_INTERVAL_HOURS` / the dashboard's settings) and
the pick-up of a model made live from outside (`emailbot model promote`, `model train --promote|--from-feedback`).

The pick-up runs on every engine poll cycle (`EngineTiming.poll_interval`, 2 s by default): it reads the small
`LATEST` file and, only when it names another version, loads that model in a thread and swaps it in. A version
that cannot be loaded is reported once and skipped until LATEST changes again, so a bad promotion never stops
classification with the model already in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from emailbot.classifiers.model_store import ModelStore, ModelStoreError
from emailbot.learning.retrain import RetrainReport, retrain_from_feedback
from emailbot.runtime import Runtime
from emailbot.store.tables import FeedbackRow, utcnow

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 300.0


def interval_hours(runtime: Runtime) -> float:
    return float(runtime.overrides.get("retrain_interval_hours", runtime.settings.retrain_interval_hours))


def trained_at(store: ModelStore) -> datetime | None:
    version = store.latest_version()
    if version is None:
        return None
    with contextlib.suppress(ModelStoreError, ValueError):
        return datetime.fromisoformat(str(store.read_meta(version).get("created_at")))
    return None


async def new_feedback_since(runtime: Runtime, since: datetime | None) -> int:
    async with runtime.db.transaction() as session:
        query = select(func.count(FeedbackRow.id))
        if since is not None:
            query = query.where(FeedbackRow.created_at > since)
        return int(await session.scalar(query) or 0)


def reload_if_changed(runtime: Runtime) -> bool:
    """Load LATEST into the running classifier when it is not the model in use; True when it changed."""
    model_holder = runtime.classifier
    if not hasattr(model_holder, "model"):
        return False
    store = ModelStore(runtime.settings.model_dir)
    latest = store.latest_version()
    if latest is None or latest == getattr(model_holder, "version", None):
        return False
    try:
        model_holder.model = store.load(latest)
    except ModelStoreError as exc:
        log.warning("cannot load model %s: %s", latest, exc)
        return False
    log.info("now classifying with model %s", latest)
    return True


class PromotedModelWatcher:
    """Swaps in the model LATEST names, once per promotion; see the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.refused: str | None = None

    async def check(self) -> bool:
        """True when a newly promoted model is now in use."""
        holder = self.runtime.classifier
        if not hasattr(holder, "model"):
            return False
        store = ModelStore(self.runtime.settings.model_dir)
        latest = store.latest_version()
        if latest is None or latest in (getattr(holder, "version", None), self.refused):
            return False
        try:
            model = await asyncio.to_thread(store.load, latest)
        except ModelStoreError as exc:
            self.refused = latest
            log.warning(
                "cannot load the promoted model %s, keeping %s: %s", latest, getattr(holder, "version", "?"), exc
            )
            return False
        holder.model = model
        self.refused = None
        log.info("now classifying with model %s", latest)
        return True


async def retrain_now(runtime: Runtime) -> RetrainReport:
    categories = tuple(getattr(runtime.classifier, "categories", runtime.taxonomy.names))
    report = await retrain_from_feedback(runtime.db, runtime.settings.model_dir, categories)
    if report.activated:
        reload_if_changed(runtime)
    return report


async def due(runtime: Runtime) -> bool:
    hours = interval_hours(runtime)
    if hours <= 0:
        return False
    last = trained_at(ModelStore(runtime.settings.model_dir))
    if last is not None and utcnow() - last < timedelta(hours=hours):
        return False
    return await new_feedback_since(runtime, last) >= runtime.settings.retrain_min_feedback


async def check_retraining(runtime: Runtime) -> None:
    """One round of the retraining schedule: pick up a model activated elsewhere, retrain when due."""
    reload_if_changed(runtime)
    if await due(runtime):
        await retrain_now(runtime)


def schedule_retraining(runtime: Runtime, every: float = CHECK_EVERY_SECONDS) -> None:
    runtime.engine.add_periodic("scheduled retraining", every, lambda: check_retraining(runtime), first_after=every)
    watcher = PromotedModelWatcher(runtime)
    runtime.engine.add_periodic("promoted model pick-up", runtime.engine.timing.poll_interval, watcher.check)
