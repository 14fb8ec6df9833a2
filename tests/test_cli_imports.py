"""`emailbot --help` and the commands that need no model must start fast: importing the CLI loads typer and
EmailBot's command modules, never scikit-learn, numpy, the database layer or the API. Checked in a fresh
interpreter, by what it imported (not by a timing)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "numpy", "scipy", "fastapi", "sqlalchemy", "uvicorn", "emailbot.api", "emailbot.runtime")


def modules_after(statement: str) -> set[str]:
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(output.split())


def heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY or name.startswith(HEAVY))


def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert heavy(modules_after("import emailbot.cli")) == []


def test_help_loads_nothing_heavy() -> None:
    statement = (
        "from typer.testing import CliRunner\nfrom emailbot.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0"
    )
    assert heavy(modules_after(statement)) == []


def test_the_check_sees_a_heavy_import() -> None:
    """The check itself can fail: importing the runtime is caught."""
    assert "sqlalchemy" in heavy(modules_after("import emailbot.runtime"))
