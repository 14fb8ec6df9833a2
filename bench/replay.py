"""`emailbot replay` over a generated export: how long 10,000 emails take.

    uv run python -m bench.replay --emails 10000          # Maildir export (files in new/)
    uv run python -m bench.replay --emails 10000 --mbox   # the same mail as one mbox file

The export is the pipeline benchmark's corpus (bench/corpus.py, fixed seed). The model is trained before timing;
the time is the replay command's own work (read, parse, classify, route in shadow mode, record) plus writing the
report, from the command line's start to its end, measured around the real `emailbot replay` in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import write_mailbox
from bench.pipeline import prepare_model

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _as_mbox(maildir: Path, target: Path) -> None:
    with target.open("wb") as out:
        for path in sorted((maildir / "new").iterdir()):
            lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
            quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines]
            out.write(b"From bench Thu Jan  1 00:00:00 2026\n" + b"\n".join(quoted).rstrip(b"\n") + b"\n\n")


def run(emails: int, *, mbox: bool) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="emailbot-bench-replay-") as scratch:
        folder = Path(scratch)
        write_mailbox(folder / "export", emails)
        source = folder / "export"
        if mbox:
            source = folder / "export.mbox"
            _as_mbox(folder / "export", source)
        prepare_model(folder / "models")
        environment = os.environ | {"EMAILBOT_MODEL_DIR": str(folder / "models")}
        command = [sys.executable, "-m", "emailbot.cli", "replay", str(source), "--out", str(folder / "report")]
        started = time.perf_counter()
        subprocess.run(command, check=True, env=environment, cwd=folder, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        report = json.loads((folder / "report" / "report.json").read_text())
    return {
        "source": "mbox" if mbox else "maildir",
        "emails": report["total"],
        "wall_seconds": round(seconds, 1),
        "pipeline_seconds": report["seconds"],
        "emails_per_second": round(report["total"] / seconds, 1),
        "automation_rate": report["automation_rate"],
        "conversations": report["conversations"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--mbox", action="store_true", help="replay one mbox file instead of a Maildir")
    options = parser.parse_args()
    result = run(options.emails, mbox=options.mbox)
    print("| source | emails | wall time (s) | of which pipeline (s) | emails/s | automation rate | conversations |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {result['source']} | {result['emails']:,} | {result['wall_seconds']} | {result['pipeline_seconds']} "
        f"| {result['emails_per_second']} | {result['automation_rate']}% | {result['conversations']:,} |"
    )


if __name__ == "__main__":
    main()
