#!/usr/bin/env bash
# Weekly maintenance: VACUUM ANALYZE, database backup, old logs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot weekly maintenance: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" maintenance weekly --url "$EMAILBOT_API_URL" "$@"
