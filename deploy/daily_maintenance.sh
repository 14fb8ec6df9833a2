#!/usr/bin/env bash
# Daily maintenance: health check, temporary files, logs, metrics update, data retention.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot daily maintenance: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" maintenance daily --url "$EMAILBOT_API_URL" "$@"
