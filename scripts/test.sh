#!/usr/bin/env bash
# The whole check, as CI runs it: services, lint, types, migrations in step with the models, then the tests
# on SQLite and PostgreSQL. Runs inside the project's environment (`./dev test`); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

echo "== ruff"
ruff check src tests bench
ruff format --check src tests bench

echo "== mypy (strict)"
mypy

echo "== migrations match the models (alembic check)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
EMAILBOT_DATABASE_URL="sqlite:///$scratch/check.db" EMAILBOT_DATA_DIR="$scratch" emailbot db check

echo "== tests"
pytest "$@"
