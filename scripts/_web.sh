# Sourced by scripts/serve and scripts/test: the workbench's build (web/ → web/dist) and the
# system packages its browser tests need. Node.js and npm are needed at build time only.
set -euo pipefail

_web_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# True (0) when this checkout has the workbench's sources.
web_present() {
  [ -f "$(_web_root)/web/package.json" ]
}

# True (0) when web/dist is missing or older than any file of web/ (node_modules and dist aside).
web_build_stale() {
  local web
  web="$(_web_root)/web"
  [ -f "$web/dist/index.html" ] || return 0
  [ -n "$(find "$web" \( -path "$web/node_modules" -o -path "$web/dist" \) -prune -o \
    -type f -newer "$web/dist/index.html" -print -quit)" ]
}

# Build web/dist when it is missing or stale: `npm ci` from the lock file (only when the lock
# file changed since the last install), then `npm run build`. Returns non-zero when it cannot.
ensure_web_build() {
  local web
  web="$(_web_root)/web"
  if ! web_present; then
    echo "No web/package.json: this checkout has no workbench sources; skipping its build." >&2
    return 0
  fi
  if ! web_build_stale; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "The workbench needs building, but Node.js/npm is missing (build time only): install" >&2
    echo "Node.js 20 or newer (Debian: apt-get install nodejs npm) and run this again." >&2
    return 1
  fi
  if [ ! -f "$web/node_modules/.package-lock.json" ] || \
     [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    echo "Installing the workbench's pinned packages (npm ci) ..." >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "Building the workbench (npm run build) ..." >&2
  (cd "$web" && npm run build)
  # Vite keeps the files' own times; mark the build as newer than the sources it came from.
  touch "$web/dist/index.html"
}

# Run an npm script of web/package.json when it defines it (lint, typecheck).
web_run_if_defined() {
  local web name="$1"
  web="$(_web_root)/web"
  web_present || return 0
  if (cd "$web" && node -e "process.exit(require('./package.json').scripts?.['$name'] ? 0 : 1)"); then
    echo "npm run $name" >&2
    (cd "$web" && npm run --silent "$name")
  fi
}

# Debian's Chromium and a font with Chinese glyphs, for the browser tests; installed when missing.
ensure_browser_packages() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # grep reads everything (no -q): under pipefail an early exit would fail fc-list with SIGPIPE.
  if ! { command -v fc-list >/dev/null 2>&1 && fc-list : family | grep -i "Noto Sans CJK" >/dev/null; }; then
    missing+=(fonts-noto-cjk)
  fi
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "Missing ${missing[*]} and not root: install them with apt-get." >&2
      return 1
    fi
  fi
  echo "Installing ${missing[*]} with apt-get ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  }
}
