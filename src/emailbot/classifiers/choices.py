"""The local model's option values, in a module without scikit-learn so that the CLI can offer them cheaply."""

from __future__ import annotations

from typing import Literal

Calibration = Literal["temperature", "sigmoid", "isotonic"]
CALIBRATIONS: tuple[Calibration, ...] = ("temperature", "sigmoid", "isotonic")
DEFAULT_CALIBRATION: Calibration = "temperature"
DEFAULT_NULL_MARGIN = -0.5
