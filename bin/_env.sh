# Shared by bin/mast and bin/test: make .venv with what MAST needs, installing only what is missing.
# Usage: source bin/_env.sh; mast_env EXTRAS   (EXTRAS: local, dev, bench)
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

mast_env() {
  local extras="$1"
  command -v ssh-keygen >/dev/null && command -v sftp >/dev/null || _apt_install openssh-client
  local python="${PYTHON:-python3}"
  if [ ! -x "$MAST_ROOT/.venv/bin/python" ]; then
    if ! "$python" -m venv "$MAST_ROOT/.venv" >/dev/null 2>&1; then
      rm -rf "$MAST_ROOT/.venv"
      _apt_install python3-venv
      "$python" -m venv "$MAST_ROOT/.venv"
    fi
  fi
  # Reinstall when pyproject.toml or the extras change.
  local stamp="$MAST_ROOT/.venv/.mast-installed"
  local want
  want="$(sha256sum "$MAST_ROOT/pyproject.toml" | cut -c1-16) $extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing MAST and its Python dependencies ($extras) into .venv …" >&2
    "$MAST_ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$MAST_ROOT[$extras]" >&2
    echo "$want" > "$stamp"
  fi
}
