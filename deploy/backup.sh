#!/usr/bin/env bash
# Database backup: compressed, timestamped, verified in a scratch database; old ones pruned; S3 if configured.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot backup: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" backup --verify "$@"
