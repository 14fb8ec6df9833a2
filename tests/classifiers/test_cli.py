from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from emailbot.classifiers.cli import app

runner = CliRunner()
TOPICS = {
    "SUPPORT": ["printer jammed again", "vpn does not connect", "outlook crashes at start", "password expired"],
    "PURCHASING": ["quote for laptops", "order two monitors", "renew the licence", "invoice is wrong"],
    "INFORMATION": ["what are the opening hours", "policy on usb sticks", "when is maintenance", "status of ticket"],
}


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    lines = ["text,category"] + [f"{text} {n},{cat}" for cat, texts in TOPICS.items() for text in texts for n in "ab"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_saves_a_version_and_prints_cv_accuracy(tmp_path: Path) -> None:
    args = ["train", str(_data(tmp_path)), "--model-dir", str(tmp_path / "m"), "--cv", "3", "--promote"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    version = (tmp_path / "m" / "LATEST").read_text().strip()
    assert f"model {version}: 24 examples, 3 categories" in result.output
    assert f"model {version} is now live (was none)" in result.output
    assert "3-fold CV accuracy" in result.output
    meta = json.loads((tmp_path / "m" / version / "meta.json").read_text())
    assert meta["cv_metrics"]["folds"] == 3
    assert meta["source"].endswith("small.csv")


def test_eval_cross_validation_prints_a_table(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(_data(tmp_path)), "--cv", "2"])
    assert result.exit_code == 0, result.output
    assert "2-fold cross-validation: n=24 in 3 categories" in result.output
    assert "| threshold | precision | coverage |" in result.output


def test_eval_train_test_with_json_splits_and_unknowns(tmp_path: Path) -> None:
    splits = {
        "train": [[f"{text} {n}", cat] for cat, texts in TOPICS.items() for text in texts for n in "ab"],
        "val": [["my printer is jammed", "SUPPORT"], ["please send a quote", "PURCHASING"]],
        "oos_val": [["how tall is mount everest", "oos"]],
    }
    path = tmp_path / "data_full.json"
    path.write_text(json.dumps(splits))
    args = ["eval", str(path), "--train-split", "train", "--test-split", "val", "--unknown-split", "oos_val"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["mode"] == "train/test"
    assert report["n"] == 2
    assert report["n_unknown"] == 1


def test_bad_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"text": "a", "category": "X"},\n')
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 2
    assert "bad.json:2: not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_cv_and_test_are_exclusive(tmp_path: Path) -> None:
    data = str(_data(tmp_path))
    result = runner.invoke(app, ["eval", data, "--cv", "3", "--test", data])
    assert result.exit_code == 2


def test_the_model_cli_imports_no_heavy_library() -> None:
    """`emailbot --help`, `model list` and `model promote` must stay fast: scikit-learn, numpy and the training code
    load inside the commands that train, evaluate or load a model."""
    heavy = {"sklearn", "numpy", "scipy", "joblib", "emailbot.classifiers.training", "emailbot.classifiers.model"}
    code = "import sys, emailbot.classifiers.cli, emailbot.classifiers.versions; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in loaded if name in heavy or name.split(".")[0] in heavy] == []
