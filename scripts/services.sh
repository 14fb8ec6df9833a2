#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is up: start it when it is installed but down, and fail
# (never skip) when it cannot be reached. Honours EMAILBOT_TEST_POSTGRES_URL's host and port.
set -euo pipefail

pg_host=127.0.0.1
pg_port=5432

postgres_up() { pg_isready -q -h "$pg_host" -p "$pg_port" 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "PostgreSQL client tools (pg_isready) are not installed; the tests need PostgreSQL on $pg_host:$pg_port." >&2
  exit 1
fi
if ! postgres_up; then
  echo "PostgreSQL is down; starting it." >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
  fi
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
fi
if ! postgres_up; then
  echo "PostgreSQL is not reachable on $pg_host:$pg_port and could not be started." >&2
  exit 1
fi
echo "PostgreSQL is up on $pg_host:$pg_port."
