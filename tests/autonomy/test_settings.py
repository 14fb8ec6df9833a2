"""The autonomy settings: earned by default, and a wrong value stops start-up naming the variable."""

from __future__ import annotations

import pytest

from emailbot.settings import SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMAILBOT_AUTONOMY", raising=False)  # the suite sets `always` for the other tests
    settings = load_settings()
    assert (settings.autonomy, settings.autonomy_target_precision, settings.autonomy_min_reviews) == (
        "earned",
        0.95,
        30,
    )
    assert settings.calibration_min_new_feedback == 20


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMAILBOT_AUTONOMY", "sometimes"),
        ("EMAILBOT_AUTONOMY_TARGET_PRECISION", "95"),  # a share, not a percentage
        ("EMAILBOT_AUTONOMY_TARGET_PRECISION", "0"),
        ("EMAILBOT_AUTONOMY_MIN_REVIEWS", "0"),
        ("EMAILBOT_CALIBRATION_MIN_NEW_FEEDBACK", "-1"),
    ],
)
def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()
