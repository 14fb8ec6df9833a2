"""A running service switches to a model promoted from outside (`emailbot model promote`) on its next cycle."""

from __future__ import annotations

import asyncio
import json

from emailbot.classifiers.model_store import ModelStore
from emailbot.learning.schedule import PromotedModelWatcher, schedule_retraining
from emailbot.runtime import Runtime


def _candidate(runtime: Runtime) -> tuple[ModelStore, str]:
    """A second saved version of the model in use, not yet live."""
    store = ModelStore(runtime.settings.model_dir)
    version = store.save(runtime.classifier.model, activate=False)  # type: ignore[attr-defined]
    return store, version


async def test_the_watcher_swaps_in_a_promoted_model_once(runtime: Runtime) -> None:
    store, candidate = _candidate(runtime)
    watcher = PromotedModelWatcher(runtime)
    before = runtime.classifier.version  # type: ignore[attr-defined]
    assert not await watcher.check()  # a candidate alone changes nothing
    assert runtime.classifier.version == before  # type: ignore[attr-defined]
    store.activate(candidate)
    assert await watcher.check()
    assert runtime.classifier.version == candidate  # type: ignore[attr-defined]
    assert not await watcher.check()


async def test_a_promoted_model_that_cannot_load_leaves_the_current_one(runtime: Runtime) -> None:
    store, candidate = _candidate(runtime)
    meta_path = store.model_dir / candidate / "meta.json"
    meta_path.write_text(json.dumps(json.loads(meta_path.read_text()) | {"sklearn_version": "0.1"}))
    store.activate(candidate)
    watcher = PromotedModelWatcher(runtime)
    before = runtime.classifier.version  # type: ignore[attr-defined]
    assert not await watcher.check()
    assert watcher.refused == candidate
    assert runtime.classifier.version == before  # type: ignore[attr-defined]
    good = store.save(runtime.classifier.model)  # type: ignore[attr-defined]
    assert await watcher.check()
    assert runtime.classifier.version == good  # type: ignore[attr-defined]


async def test_the_running_engine_picks_up_a_promotion(runtime: Runtime) -> None:
    store, candidate = _candidate(runtime)
    schedule_retraining(runtime)
    runtime.engine.start()
    try:
        store.activate(candidate)
        async with asyncio.timeout(30):  # a bound on a wait for an event, not a timing assertion
            while runtime.classifier.version != candidate:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
    finally:
        await runtime.engine.stop()
    assert runtime.classifier.model.version == candidate  # type: ignore[attr-defined]
