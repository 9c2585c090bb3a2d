#!/usr/bin/env bash
# Creates the Python environment that tests/python runs in and prints its
# interpreter's path on stdout (everything else goes to stderr), so callers do
#   PY="$(scripts/setup-python.sh)" && "$PY" -m pytest tests/python
# Idempotent: when the venv already holds exactly tests/python/requirements.txt
# for the same base interpreter, it only prints the path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/tests/python/requirements.txt"
cache="${TRACEPIPE_CACHE:-$HOME/.cache/tracepipe}"
venv="${TRACEPIPE_VENV:-$cache/venv}"
base_python="${PYTHON:-python3}"
stamp="$venv/.tracepipe-stamp"

# The stamp names what the venv was built from: the pins and the interpreter.
want="$(sha256sum "$requirements" | cut -d' ' -f1) $("$base_python" -c 'import sys; print(sys.version.split()[0])')"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    echo "$venv/bin/python"
    exit 0
fi

echo "setup-python: building $venv" >&2
# --clear: a venv from another interpreter or a half-finished run is rebuilt whole.
"$base_python" -m venv --clear "$venv" >&2
"$venv/bin/python" -m pip install \
    --cache-dir "$cache/pip" \
    --disable-pip-version-check \
    --quiet \
    --requirement "$requirements" >&2
echo "$want" >"$stamp"
echo "$venv/bin/python"
