#!/usr/bin/env bash
# Daily health check: the API, its components and the processing status.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot health check: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" health --url "$EMAILBOT_API_URL" "$@"
