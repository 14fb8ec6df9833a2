#!/usr/bin/env bash
# The whole check, as CI runs it: services, lint, types, migrations in step with the models, then the tests on
# SQLite and PostgreSQL in parallel workers. Runs inside the project's environment (`./dev test`); extra arguments
# go to pytest. CI (.ci/run) then runs the timing-sensitive modules once more with every core kept busy.
#
#   ./dev test            everything (about 5 minutes on 2 cores)
#   ./dev test --quick    the inner loop: lint and the fast tests on SQLite only (no end-to-end, browser, types)
#   ./dev test --loaded   the timing-sensitive modules (scripts/timing-sensitive.txt) with every core kept busy
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--loaded" ]; then
  shift
  bash scripts/services.sh
  # shellcheck disable=SC2046  # one path per line in the list
  exec bash scripts/loaded.sh pytest -n 2 -q "$@" $(cat scripts/timing-sensitive.txt)
fi
quick=false
if [ "${1:-}" = "--quick" ]; then
  quick=true
  shift
fi
# Parallel workers: one per core and one more, since many tests wait on sockets and subprocesses.
workers="${EMAILBOT_TEST_WORKERS:-$(($(nproc) + 1))}"

echo "== ruff"
ruff check src tests bench
ruff format --check src tests bench

if $quick; then
  echo "== tests (quick: SQLite, not slow)"
  EMAILBOT_TEST_BACKENDS=sqlite pytest -n "$workers" -m "not slow" "$@"
  exit 0
fi

bash scripts/services.sh

echo "== mypy (strict)"
mypy

echo "== migrations match the models (alembic check)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
EMAILBOT_DATABASE_URL="sqlite:///$scratch/check.db" EMAILBOT_DATA_DIR="$scratch" emailbot db check

echo "== tests"
pytest -n "$workers" "$@"
