#!/usr/bin/env bash
# Shared by the deploy scripts: how to run `emailbot`, and the API address the maintenance steps call.
# In Docker the command runs inside the worker container, which reaches the API service directly (not
# through nginx, which keeps /internal/ closed to the outside).
set -euo pipefail
if [ -z "${EMAILBOT:-}" ]; then
  EMAILBOT="docker compose exec -T worker emailbot"
  EMAILBOT_API_URL="${EMAILBOT_API_URL:-http://api:8000}"
fi
EMAILBOT_API_URL="${EMAILBOT_API_URL:-http://127.0.0.1:8000}"
read -r -a EMAILBOT_CMD <<<"$EMAILBOT"
