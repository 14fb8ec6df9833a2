#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the tests use are up: start each when it is installed but down, and
# fail (never skip) when it cannot be reached. Honours EMAILBOT_TEST_POSTGRES_URL's host and port.
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

# Redis: the token cache, the LLM response cache and rate limits are tested against a real server.
redis_host=127.0.0.1
redis_port=6379
redis_up() { redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-cli >/dev/null 2>&1; then
  echo "Redis client tools (redis-cli) are not installed; the tests need Redis on $redis_host:$redis_port." >&2
  exit 1
fi
if ! redis_up; then
  echo "Redis is down; starting it." >&2
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --bind "$redis_host" --port "$redis_port" --save "" --appendonly no --daemonize yes || true
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "Redis is not reachable on $redis_host:$redis_port and could not be started." >&2
  exit 1
fi
echo "Redis is up on $redis_host:$redis_port."

# Chromium: the dashboard's browser tests drive Debian's build (never a downloaded one).
# Installed from Debian's packages when missing and this user may (root with apt-get), as on a fresh CI machine.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing; installing Debian's chromium." >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "/usr/bin/chromium is missing; the dashboard tests need it: apt-get install -y chromium" >&2
  exit 1
fi
echo "Chromium is installed at /usr/bin/chromium."
