# Sourced by the scripts: finds the Python to use and its virtual environment.
# PYTHON overrides the choice. Otherwise: a python3.14 >= 3.14.2 (the newest Home Assistant,
# what ../shared/tools/with-python314 provides), else Python 3.13 (the oldest supported
# Home Assistant), found on PATH or in pyenv.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  if command -v python3.14 >/dev/null 2>&1 &&
    python3.14 -c 'import sys; raise SystemExit(sys.version_info < (3, 14, 2))' 2>/dev/null; then
    command -v python3.14; return
  fi
  if python3.13 -c '' >/dev/null 2>&1; then command -v python3.13; return; fi
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "No Python 3.13 or 3.14 found: install one, or set PYTHON=/path/to/python" >&2
  return 1
}

PYTHON_BIN=$(find_python)
PY_VERSION=$("$PYTHON_BIN" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VENV="$ROOT/.venv-$PY_VERSION"
# SMH_PYMODBUS=latest: a separate environment with the newest pymodbus the manifest allows
# (what Home Assistant 2025.4, which does not constrain pymodbus, gives a user).
case "${SMH_PYMODBUS:-}" in
  "") ;;
  latest) VENV="$VENV-pymodbus-latest" ;;
  *) echo "SMH_PYMODBUS must be empty or 'latest', not '$SMH_PYMODBUS'" >&2; exit 2 ;;
esac
export PATH="$VENV/bin:$PATH"
