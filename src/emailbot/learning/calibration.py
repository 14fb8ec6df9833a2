"""The LLM's (or hybrid's) confidence calibration, refitted from operators' feedback on the engine's schedule.

`emailbot model calibrate` fits the isotonic map once, from labelled data plus feedback, and keeps the labelled
pairs in the saved map. This job refits the map on those pairs plus all feedback pairs once at least
`EMAILBOT_CALIBRATION_MIN_NEW_FEEDBACK` new reviewed classifications came in since the map was fitted, saves it
beside the models and puts it into the running classifier; a process that did not fit it picks it up from the file.
The local model calibrates itself when it is retrained (learning/schedule.py), so this is for `llm` and `hybrid`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emailbot.classifiers.llm.confidence import MIN_CALIBRATION_EXAMPLES, Calibrator, calibration_path, fit_calibrator
from emailbot.store.db import Database
from emailbot.store.reviews import calibration_pairs

if TYPE_CHECKING:
    from emailbot.runtime import Runtime

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class RefitReport:
    refitted: bool
    feedback: int  # feedback pairs available now
    new_feedback: int  # of which not yet in the saved map
    message: str


async def refit_from_feedback(db: Database, model_dir: Path, kind: str, min_new: int) -> RefitReport:
    """Refit and save the `kind` map when enough new feedback exists; the saved file is the result."""
    path = calibration_path(model_dir, kind)
    current = load_quietly(path)
    async with db.transaction() as session:
        feedback = await calibration_pairs(session, kind)
    new = len(feedback) - int(current.meta.get("feedback_n", 0))
    labelled = [(float(raw), bool(right)) for raw, right in current.meta.get("labelled_pairs", [])]
    pairs = labelled + feedback
    if min_new <= 0 or new < min_new:
        message = f"{new} new reviews since the last fit (refit at {min_new})"
    elif len(pairs) < MIN_CALIBRATION_EXAMPLES:
        message = f"{len(pairs)} pairs; calibration needs at least {MIN_CALIBRATION_EXAMPLES}"
    else:
        meta: dict[str, Any] = {k: v for k, v in current.meta.items() if k not in ("n", "fitted_at")}
        meta |= {"feedback_n": len(feedback), "labelled_pairs": labelled, "source": "feedback refit"}
        save_atomically(fit_calibrator([raw for raw, _ in pairs], [right for _, right in pairs], **meta), path)
        message = f"refitted on {len(pairs)} pairs ({len(feedback)} from feedback)"
        return RefitReport(refitted=True, feedback=len(feedback), new_feedback=new, message=message)
    return RefitReport(refitted=False, feedback=len(feedback), new_feedback=new, message=message)


def load_quietly(path: Path) -> Calibrator:
    """The saved map; the identity when there is none or it cannot be read (a half-written file is never used)."""
    try:
        return Calibrator.load(path)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        log.warning("cannot read calibration %s: %s", path.name, exc)
        return Calibrator()


def save_atomically(calibrator: Calibrator, path: Path) -> None:
    """Another process may be loading the map: it sees the old file or the new one, never half of one."""
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    calibrator.save(partial)
    os.replace(partial, path)


def calibrated_part(classifier: object) -> Any:
    """What holds the map the service applies: the hybrid for `hybrid`, the LLM for `llm`; None for the local model."""
    from emailbot.classifiers.llm.classifier import LLMClassifier
    from emailbot.classifiers.llm.hybrid import HybridClassifier

    return classifier if isinstance(classifier, HybridClassifier | LLMClassifier) else None


async def check_calibration(runtime: Runtime) -> RefitReport | None:
    """One round of the schedule: refit when due, then use the saved map if it is not the one in use."""
    holder, kind = calibrated_part(runtime.classifier), runtime.settings.classifier
    if holder is None or kind == "local":
        return None
    report = await refit_from_feedback(
        runtime.db, runtime.settings.model_dir, kind, runtime.settings.calibration_min_new_feedback
    )
    saved = load_quietly(calibration_path(runtime.settings.model_dir, kind))
    if saved.fitted and saved.meta.get("fitted_at") != holder.calibrator.meta.get("fitted_at"):
        holder.calibrator = saved
        log.info("confidence calibration for %s now fitted on %s pairs", kind, saved.meta.get("n"))
    return report


def schedule_calibration(runtime: Runtime, every: float = CHECK_EVERY_SECONDS) -> None:
    if runtime.settings.classifier == "local" or runtime.settings.calibration_min_new_feedback <= 0:
        return
    runtime.engine.add_periodic("calibration refit", every, lambda: check_calibration(runtime), first_after=every)
