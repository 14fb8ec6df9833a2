"""Charts as inline SVG, computed on the server: no chart library, no script, nothing to load from elsewhere.

The functions return geometry only; the templates draw it, so every label goes through the template's escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 560, 180, 24


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    width: int = WIDTH
    height: int = HEIGHT
    horizontal: bool = False
    maximum: str = ""


def columns(title: str, labels: Sequence[str], values: Sequence[float], unit: str = "") -> Chart:
    """Vertical bars, one per label (days, bins)."""
    top = max(values, default=0) or 1
    slot = (WIDTH - PAD) / max(len(values), 1)
    usable = HEIGHT - 2 * PAD
    bars = tuple(
        Bar(
            x=PAD + index * slot + slot * 0.1,
            y=PAD + usable * (1 - value / top),
            width=slot * 0.8,
            height=usable * value / top,
            label=label,
            value=f"{value:g}{unit}",
        )
        for index, (label, value) in enumerate(zip(labels, values, strict=True))
    )
    return Chart(title, bars, maximum=f"{top:g}{unit}")


def rows(title: str, items: Sequence[tuple[str, int]]) -> Chart:
    """Horizontal bars, one per named count (categories, actions)."""
    top = max((value for _, value in items), default=0) or 1
    line = 22
    label_width = 150
    bars = tuple(
        Bar(
            x=label_width,
            y=PAD / 2 + index * line,
            width=(WIDTH - label_width - 60) * value / top,
            height=line * 0.7,
            label=label,
            value=str(value),
        )
        for index, (label, value) in enumerate(items)
    )
    return Chart(title, bars, height=int(PAD + line * max(len(items), 1)), horizontal=True)
