#!/usr/bin/env bash
# Security incident response, evidence part: collects logs, redacted settings, system state, alerts and errors
# into one archive and prints its path. Containment (blocking addresses, stopping nginx) stays a human decision:
#   docker compose stop nginx     # cut external access
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if [ $# -lt 2 ]; then
  echo "Usage: $0 <type> <severity> [note]" >&2
  echo "Types: data_breach, unauthorized_access, malware, dos_attack, outage" >&2
  echo "Severity: low, medium, high, critical" >&2
  exit 1
fi
echo "=== Security Incident Response: $1 ($2) at $(date -u +%Y-%m-%dT%H:%M:%SZ) ==="
exec "${EMAILBOT_CMD[@]}" incident collect --type "$1" --severity "$2" --note "${3:-}" --url "$EMAILBOT_API_URL"
