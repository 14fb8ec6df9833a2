#!/usr/bin/env bash
# Configuration backup: settings (secrets redacted), taxonomy, templates, processing rules.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
echo "=== EmailBot backup config: $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" backup config "$@"
