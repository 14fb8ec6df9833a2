"""Entry point of a scenario process: `python -m bench.child SPEC.json RESULT.json`.

It pins itself to one core before importing anything heavy. On Linux `sched_setaffinity(0, ...)` sets the mask of
the calling thread only; threads started later inherit it, threads that already exist (numpy's BLAS pool is started
at import) do not. Pinning first puts every thread of the scenario on the same core.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    core = json.loads(spec_path.read_text()).get("pin_core")
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(core)})
    from bench.scenarios import run_from_files

    run_from_files(spec_path, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
