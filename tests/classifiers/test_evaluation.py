from __future__ import annotations

import random

import numpy as np
import pytest

from emailbot.classifiers.evaluation import (
    Predictions,
    cross_validate,
    cross_validated_predictions,
    evaluate,
    expected_calibration_error,
    format_report,
    score,
    threshold_rows,
)
from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.training import Example, load_examples, load_starter
from tests.shared_data import shared_data

CONFIDENCE = [95.0, 95.0, 65.0, 65.0, 30.0]
CORRECT = [True, False, True, True, False]
UNKNOWN = [10.0, 50.0, 90.0, 39.9]


def test_ece_by_hand() -> None:
    """Bins of width 1/15: 0.95 -> bin 14, 0.65 -> bin 9, 0.30 -> bin 4.

    |0.5 - 0.95| * 2/5 + |1.0 - 0.65| * 2/5 + |0.0 - 0.30| * 1/5 = 0.18 + 0.14 + 0.06 = 0.38
    """
    assert expected_calibration_error([c / 100 for c in CONFIDENCE], CORRECT) == pytest.approx(0.38)


def test_ece_edges() -> None:
    assert expected_calibration_error([], []) == 0.0
    assert expected_calibration_error([0.0, 1.0], [False, True]) == pytest.approx(0.0)
    assert expected_calibration_error([0.5] * 4, [True, True, False, False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [True, False, False, False]) == pytest.approx(0.75)


def test_precision_coverage_and_abstention_by_hand() -> None:
    rows = threshold_rows(CONFIDENCE, CORRECT, UNKNOWN, thresholds=(40, 60, 85, 90, 95, 96))
    table = [(r.threshold, r.precision, r.coverage, r.unknown_below) for r in rows]
    assert table == [
        (40, 0.75, 0.8, 0.5),  # 4 of 5 kept, 3 of them right; unknowns 10 and 39.9 are below 40
        (60, 0.75, 0.8, 0.75),
        (85, 0.5, 0.4, 0.75),
        (90, 0.5, 0.4, 0.75),  # 90 itself is not below 90
        (95, 0.5, 0.4, 1.0),  # 95 is kept at 95 (>=)
        (96, None, 0.0, 1.0),  # nothing left: precision undefined
    ]


def test_score_by_hand() -> None:
    """A: P=1, R=1/2, F1=2/3; B: P=2/3, R=1, F1=4/5; macro-F1 = (2/3 + 4/5) / 2 = 11/15."""
    report = score(Predictions(["A", "A", "B", "B"], ["A", "B", "B", "B"], [90.0, 60.0, 80.0, 70.0], [20.0]))
    assert report.n == 4
    assert report.n_unknown == 1
    assert report.n_categories == 2
    assert report.accuracy == pytest.approx(0.75)
    assert report.macro_f1 == pytest.approx(11 / 15)
    # bins: 0.9 -> (0.867, 0.933] right; 0.6 -> (0.533, 0.6] wrong; 0.8 -> (0.733, 0.8] right; 0.7 -> right
    assert report.ece == pytest.approx((0.1 + 0.6 + 0.2 + 0.3) / 4)
    assert report.thresholds[0].unknown_below == 1.0


def test_format_report_is_a_table() -> None:
    report = score(Predictions(["A", "B"], ["A", "A"], [90.0, 50.0], [10.0]), mode="test")
    text = format_report(report)
    assert "accuracy 50.0%" in text
    assert "| threshold | precision | coverage | unknown below |" in text
    assert "|        95 |         — |     0.0% |        100.0% |" in text


def test_test_rows_with_unseen_labels_count_as_unknown(starter_model: TrainedModel) -> None:
    test = [Example("my password expired, please reset it", "SUPPORT"), Example("what's the weather", "oos")]
    report = evaluate(starter_model, test)
    assert report.n == 1
    assert report.n_unknown == 1
    assert report.accuracy == 1.0


def test_starter_cross_validation_is_calibrated() -> None:
    """5-fold CV on the starter set: ECE below 0.09, and at the level of a perfectly calibrated model.

    Why 0.09: ECE is biased upwards on small samples. Drawing hits with probability = confidence (a perfectly
    calibrated model) for these same 308 confidences gives ECE 0.056 on average, 0.076 at the 95th and ~0.083 at
    the 99th percentile. Measured: 0.055, 0.063 and 0.067 for CV seeds 0-2, i.e. within the noise. Sigmoid
    calibration measured 0.108 and 'confidence = 100%' would score 1 - accuracy (~0.2): 0.09 tells them apart.
    """
    predictions, _, _ = cross_validated_predictions(load_starter(), 5, background=load_starter("background"))
    report = score(predictions)
    assert report.accuracy > 0.72
    assert report.ece < 0.09
    confidence = np.array(predictions.confidence) / 100
    rng = np.random.default_rng(0)
    floor = [expected_calibration_error(confidence, rng.uniform(size=confidence.size) < confidence) for _ in range(200)]
    assert report.ece < float(np.percentile(floor, 99))
    high = report.thresholds[2]  # 85: the auto-answer threshold
    assert high.threshold == 85
    assert high.precision is not None
    assert high.precision > 0.9


def test_eval_on_a_slice_of_banking77() -> None:
    path = shared_data("banking77", "train.csv")
    examples = load_examples(path)
    wanted = sorted({e.category for e in examples})[:12]
    subset = [e for e in examples if e.category in wanted]
    random.Random(0).shuffle(subset)
    report = cross_validate(subset[:900], 3)
    assert report.n == 900
    assert report.n_categories == 12
    assert report.accuracy > 0.8
    assert report.ece < 0.1
