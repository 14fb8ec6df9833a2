#!/usr/bin/env bash
# Run a command while every core is kept busy by a spinning process, as on a loaded CI machine: tests that pass
# only on an idle machine (a race hidden by speed, a timing taken for granted) fail here instead of in CI.
set -euo pipefail
spinners=()
cleanup() { [ ${#spinners[@]} -eq 0 ] || kill "${spinners[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 "$(nproc)"); do
  python3 -c 'while True: pass' &
  spinners+=($!)
done
"$@"
