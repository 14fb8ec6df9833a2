"""The scheduled refit of the LLM's confidence calibration from operators' feedback: it waits for enough new
reviews, saves the map beside the models, and every process classifies with it (the fitting one at once, the others
at their next round)."""

from __future__ import annotations

import json

import pytest

from emailbot.classifiers.llm.confidence import calibration_path
from emailbot.learning.calibration import calibrated_part, check_calibration
from emailbot.review import actions
from emailbot.runtime import Runtime
from tests.classifiers.llm.conftest import BuildRuntime, deliver, process_all, stored
from tests.factories import rfc822

REVIEWS = 24


async def _deliver_batch(runtime: Runtime, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        raw = rfc822(f"VPN broken ({n})", "My VPN client shows an error.", sender=f"user{n}@customer.example")
        deliver(runtime, f"{n}.eml", raw)
    await process_all(runtime)


async def test_refit_waits_for_new_feedback_then_every_process_uses_it(make_llm_runtime: BuildRuntime) -> None:
    runtime = make_llm_runtime(calibration_min_new_feedback=20)
    other = make_llm_runtime(calibration_min_new_feedback=20)  # another worker on the same database and models
    await _deliver_batch(runtime, REVIEWS)
    rows = await stored(runtime)
    for n, (email, _, _) in enumerate(rows[:10]):
        await actions.confirm(runtime, email.id, "op")
        if n % 2:  # half of the first ten were wrong, and all of the rest below: 5 right of 24
            await actions.correct_category(runtime, email.id, "PURCHASING", "op")
    too_few = await check_calibration(runtime)
    assert too_few is not None
    assert (too_few.refitted, too_few.new_feedback) == (False, 10)
    for email, _, _ in rows[10:]:
        await actions.correct_category(runtime, email.id, "PURCHASING", "op")

    report = await check_calibration(runtime)
    assert report is not None
    assert (report.refitted, report.feedback, report.new_feedback) == (True, REVIEWS, REVIEWS)
    saved = json.loads(calibration_path(runtime.settings.model_dir, "llm").read_text())
    assert (saved["n"], saved["feedback_n"], saved["labelled_pairs"]) == (REVIEWS, REVIEWS, [])
    calibrator = calibrated_part(runtime.classifier).calibrator
    assert calibrator.fitted

    again = await check_calibration(runtime)
    assert again is not None
    assert (again.refitted, again.new_feedback) == (False, 0)
    assert calibrated_part(runtime.classifier).calibrator is calibrator  # nothing new, nothing reloaded

    assert not calibrated_part(other.classifier).calibrator.fitted
    await check_calibration(other)
    assert calibrated_part(other.classifier).calibrator.meta["fitted_at"] == saved["fitted_at"]

    await _deliver_batch(runtime, 1, start=100)
    _, result, classification = (await stored(runtime))[-1]
    assert classification.raw_confidence is not None
    expected = calibrator(classification.raw_confidence / 100) * 100
    assert classification.confidence == pytest.approx(expected, abs=0.05)  # stored to one decimal
    assert classification.confidence < classification.raw_confidence  # 5 of 24 right: far less sure than it said
