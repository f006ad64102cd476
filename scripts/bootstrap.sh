#!/usr/bin/env bash
# Install everything roost's demo and tests need, on a fresh Debian machine or this one:
# Debian packages (after apt-get update) when missing, a venv with roost and its test deps.
set -euo pipefail
cd "$(dirname "$0")/.."

# The SSH tests make real hosts (sshd in network namespaces) and sync with rsync; shared
# machines run Caddy, Label Studio machines PostgreSQL (the test hosts use this machine's /usr);
# the fake cloud enforces security groups on its test hosts with nftables.
# `make bench` loads services with wrk; the dashboard tests drive Chromium with Playwright.
DEBIAN_PACKAGES=(openssh-server openssh-client rsync iproute2 util-linux nftables caddy curl postgresql wrk chromium)
# Debian's own python3 needs python3-venv for `python3 -m venv` (with pip).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then DEBIAN_PACKAGES+=(python3-venv); fi

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv
# Compiled now, so that each `roost` command starts from bytecode even where Python may not
# write it (PYTHONDONTWRITEBYTECODE): 0.46 s -> 0.20 s for `roost exec NAME -- true` here.
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e '.[dev]'
.venv/bin/python -m compileall -q src
echo "bootstrap: roost installed in .venv ($(.venv/bin/roost --help >/dev/null && echo ok))"
