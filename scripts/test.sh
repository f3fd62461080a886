#!/usr/bin/env bash
# Run the test suite in a project venv (created and filled from requirements-dev.txt if needed).
#   bash scripts/test.sh            # default CPU suite
#   bash scripts/test.sh -m slow    # the heavier cases (big variants, 2-process training)
#   bash scripts/test.sh -m ""      # everything
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$VENV/bin/python" -m pytest "$@"
