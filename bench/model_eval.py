"""`emailbot model eval`: scoring a saved model (`--model`) against the old way (train for every evaluation).

    uv run python -m bench.model_eval                      # BANKING77 train.csv from ../shared/data
    uv run python -m bench.model_eval --data PATH.csv

Each step is the real CLI in its own process, timed from start to exit (imports included, as a user sees it):
`model train --cv 0` (one fit on all rows), `model eval --model <that version> --predictions`, `model eval --cv 5`
(today's default without `--model`: five fits), and `model list`. The model folder is temporary. Scores on the
training file itself are in-sample: this measures time, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT.parent / "shared" / "data" / "banking77" / "train.csv"
RESULTS = PROJECT / "bench" / "results"


def _timed(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    command = [str(Path(sys.executable).parent / "emailbot"), "model", *args]  # the installed console script
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"emailbot model {' '.join(args)} failed: {done.stderr}")
    return seconds, done.stdout


def run(data: Path, *, with_cv: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        models = str(Path(folder) / "models")
        results = {"train --cv 0": _timed("train", str(data), "--model-dir", models, "--cv", "0")[0]}
        version = next(p.name for p in Path(models).iterdir() if (p / "meta.json").is_file())
        predictions = str(Path(folder) / "p.csv")
        eval_args = ["eval", str(data), "--model", version, "--model-dir", models, "--predictions", predictions]
        results["eval --model --predictions"] = _timed(*eval_args)[0]
        results["list"] = _timed("list", "--model-dir", models)[0]
        if with_cv:
            results["eval --cv 5 (no --model)"] = _timed("eval", str(data), "--cv", "5")[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-cv", action="store_true", help="skip the slow 5-fold run")
    args = parser.parse_args()
    results = run(args.data, with_cv=not args.no_cv)
    print(f"| step ({args.data.name}) | seconds |\n|---|---|")
    for name, seconds in results.items():
        print(f"| `model {name}` | {seconds:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"model_eval-{stamp}.json").write_text(json.dumps({"data": str(args.data), "seconds": results}))


if __name__ == "__main__":
    main()
