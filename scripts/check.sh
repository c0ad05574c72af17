#!/usr/bin/env bash
# Static checks CI runs before the tests: formatting, lint, types and the import layers.
#
#   scripts/check.sh            the whole repository
#   scripts/check.sh PATH...    format and lint only PATHs; type-check those under src/
#
# Every check runs even when an earlier one fails, so one run lists every finding.
# Fix formatting and the fixable lint with:
#   .venv/bin/ruff format . && .venv/bin/ruff check --fix .
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
bin=.venv/bin

paths=("$@")
typed=()
for path in "${paths[@]}"; do
  case $path in src | src/*) typed+=("$path") ;; esac
done

failed=()
check() {
  local name=$1
  shift
  echo "+ $*"
  "$@" || failed+=("$name")
}

check format "$bin/ruff" format --check --diff "${paths[@]:-.}"
check lint "$bin/ruff" check "${paths[@]:-.}"
if [ ${#paths[@]} -eq 0 ]; then
  check types "$bin/mypy"  # the files [tool.mypy] names: src/
elif [ ${#typed[@]} -gt 0 ]; then
  # Errors only in the named files; the modules they import are still read for their types.
  check types "$bin/mypy" --follow-imports=silent --no-warn-unused-configs "${typed[@]}"
fi
check layers "$bin/python" -m pytest tests/test_layers.py -q -p no:cacheprovider

if [ ${#failed[@]} -gt 0 ]; then
  echo "scripts/check.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/check.sh: all checks passed"
