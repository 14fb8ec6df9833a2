#!/usr/bin/env bash
# Restore a database backup: pauses processing, restores, migrates to the current schema, resumes.
# In Docker, FILE is a path inside the container, e.g. /var/lib/emailbot/backups/emailbot-20261124T021500Z.tar.gz
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if [ $# -ne 1 ]; then
  echo "Usage: $0 <backup file>" >&2
  exit 1
fi
echo "Restoring database from: $1"
exec "${EMAILBOT_CMD[@]}" restore --yes "$1"
