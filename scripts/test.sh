#!/usr/bin/env bash
# The whole check, as CI runs it: services, lint, types, migrations in step with the models, then the tests
# on SQLite and PostgreSQL. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

run() { if command -v uv >/dev/null 2>&1; then uv run --frozen --no-sync "$@"; else python3 -m uv run --frozen --no-sync "$@"; fi; }

bash scripts/services.sh

echo "== ruff"
run ruff check src tests bench
run ruff format --check src tests bench

echo "== mypy (strict)"
run mypy

echo "== migrations match the models (alembic check)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
EMAILBOT_DATABASE_URL="sqlite:///$scratch/check.db" EMAILBOT_DATA_DIR="$scratch" run emailbot db check

echo "== tests"
run pytest "$@"
