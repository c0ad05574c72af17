#!/usr/bin/env bash
# Set up (first time) and run the whole test suite, on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

# The store suite needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Several workers: most tests wait on real-time audio, servers and agent processes rather
# than compute, so three share the two cores well (OPENLINE_TEST_WORKERS=0: one process).
exec .venv/bin/python -m pytest -n "${OPENLINE_TEST_WORKERS:-3}" "$@"
