#!/usr/bin/env bash
# Monthly maintenance: backups, performance report, pattern discovery, security audit, capacity review.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot monthly maintenance: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" maintenance monthly --url "$EMAILBOT_API_URL" "$@"
