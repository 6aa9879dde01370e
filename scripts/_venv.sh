# Sourced by scripts/serve and scripts/test: make sure .venv exists and holds the pinned
# packages of the given requirements file. Reinstalls only when that file changed.
set -euo pipefail
ensure_venv() {
  local req="$1"
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local venv="$root/.venv"
  local py="${PYTHON:-python3}"
  if [ ! -x "$venv/bin/python" ]; then
    echo "Creating virtual environment in .venv ..." >&2
    "$py" -m venv "$venv"
  fi
  local stamp="$venv/.installed-$(basename "$req")"
  local want
  want="$(cat "$root/requirements.txt" "$root/$req" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing $req into .venv ..." >&2
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$root/$req"
    echo "$want" > "$stamp"
  fi
}
