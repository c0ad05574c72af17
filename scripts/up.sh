#!/usr/bin/env bash
# Set up (first time) and run openline on embedded SQLite with the example agent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/openline up "$@"
