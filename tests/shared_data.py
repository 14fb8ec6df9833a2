"""Third-party data sets beside the project (`../shared/data`): optional on a plain clone, required in CI.

A test that reads them calls `shared_data(...)` (or parametrizes over `shared_files(...)`): on a clone without the
folder it is skipped with one line naming the folder; with `CI=true` it fails instead, so CI can never go green
by not running them. A parametrized test over an existing but empty folder fails at collection (see
`empty_parameter_set_mark` in pyproject.toml): nothing is ever silently uncollected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _missing_reason(path: Path) -> str:
    relative = path.relative_to(SHARED_DATA.parent.parent)
    return f"third-party data ../{relative.as_posix()} is not beside this clone"


def shared_data(*parts: str) -> Path:
    """The path of a shared data set (or a file in it); skips the test when it is absent, fails in CI."""
    path = SHARED_DATA.joinpath(*parts)
    if path.exists():
        return path
    reason = _missing_reason(path)
    if in_ci():
        pytest.fail(f"{reason}; CI requires it")
    pytest.skip(reason)


def shared_files(*parts: str, select: Callable[[Path], bool] = lambda path: path.is_file()) -> list[Any]:
    """Parameters for `pytest.mark.parametrize`: the selected files under a shared folder, sorted.

    Without the folder: one skipped parameter that names it (a failing one in CI), never an empty list.
    """
    folder = SHARED_DATA.joinpath(*parts)
    if not folder.is_dir():
        reason = _missing_reason(folder)
        if in_ci():
            raise pytest.UsageError(f"{reason}; CI requires it")
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="missing-shared-data")]
    found = sorted(path for path in folder.rglob("*") if select(path))
    return [pytest.param(path, id=path.relative_to(folder).as_posix()) for path in found]
