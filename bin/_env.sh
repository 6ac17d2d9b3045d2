# Shared by bin/mast and bin/test: make .venv with what MAST needs, installing only what is missing.
# Usage: source bin/_env.sh; mast_env EXTRAS   (EXTRAS: local, dev, bench); also builds the web page
set -euo pipefail
MAST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

_apt_install() {
  # Debian packages, installed only when missing; 'apt-get update' once first.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  _as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "${missing[@]}" >&2
}

_sha() { cat "$@" | sha256sum | cut -c1-16; }

mast_web() {
  # The web page's npm packages (from package-lock.json) and its build into web/dist/, redone when
  # the lockfile or the build's inputs change, like the venv's stamp.
  command -v npm >/dev/null || _apt_install nodejs npm
  local lock="$MAST_ROOT/package-lock.json" installed="$MAST_ROOT/node_modules/.mast-installed"
  if [ ! -f "$installed" ] || [ "$(cat "$installed")" != "$(_sha "$lock")" ]; then
    echo "installing the web page's npm packages (npm ci) …" >&2
    (cd "$MAST_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
    _sha "$lock" > "$installed"
  fi
  local built="$MAST_ROOT/web/dist/.mast-built" inputs
  inputs="$(_sha "$lock" "$MAST_ROOT/web/build.mjs" "$MAST_ROOT"/web/src/* "$MAST_ROOT/infra/partnership.yaml")"
  if [ ! -f "$built" ] || [ "$(cat "$built")" != "$inputs" ]; then
    echo "building the web page (npm run build) …" >&2
    (cd "$MAST_ROOT" && npm run --silent build >&2)
    echo "$inputs" > "$built"
  fi
}

mast_env() {
  local extras="$1"
  command -v ssh-keygen >/dev/null && command -v sftp >/dev/null || _apt_install openssh-client
  # The browser tests drive Debian's Chromium (never Playwright's own download).
  if [[ " $extras " == *" dev "* ]] && [ ! -x /usr/bin/chromium ]; then _apt_install chromium; fi
  mast_web
  local python="${PYTHON:-python3}"
  if [ ! -x "$MAST_ROOT/.venv/bin/python" ]; then
    if ! "$python" -m venv "$MAST_ROOT/.venv" >/dev/null 2>&1; then
      rm -rf "$MAST_ROOT/.venv"
      _apt_install python3-venv
      "$python" -m venv "$MAST_ROOT/.venv"
    fi
  fi
  # Install when pyproject.toml changes or an extra is asked for that is not installed yet; the
  # stamp keeps every extra installed since, so `mast bench` (bench) then `mast local` (local) does
  # not reinstall each time.
  local stamp="$MAST_ROOT/.venv/.mast-installed" hash have="" missing=""
  hash="$(sha256sum "$MAST_ROOT/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$hash" ]; then have=" $(cut -d' ' -f2- "$stamp") "; fi
  for extra in ${extras//,/ }; do [[ "$have" == *" $extra "* ]] || missing="$missing $extra"; done
  if [ -n "$missing" ]; then
    local all
    all="$(echo $have $missing | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
    echo "installing MAST and its Python dependencies (${all// /, }) into .venv …" >&2
    "$MAST_ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$MAST_ROOT[${all// /,}]" >&2
    echo "$hash $all" > "$stamp"
  fi
  if [[ " $extras " == *" dev "* ]]; then mast_checkov; fi
}

mast_checkov() {
  # checkov (the tests run it on the templates) in a venv of its own, at the exact version pinned in
  # pyproject.toml's `checkov` extra: it pins an AWS SDK far older than MAST's.
  local venv="$MAST_ROOT/.venv-checkov" pins
  pins="$("$MAST_ROOT/.venv/bin/python" -c 'import sys, tomllib; print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["checkov"]))' "$MAST_ROOT/pyproject.toml")"
  if [ ! -f "$venv/.mast-installed" ] || [ "$(cat "$venv/.mast-installed")" != "$pins" ]; then
    echo "installing $pins into .venv-checkov …" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    # shellcheck disable=SC2086 # one word per pinned requirement
    "$venv/bin/python" -m pip install -q --disable-pip-version-check $pins >&2
    echo "$pins" > "$venv/.mast-installed"
  fi
}
