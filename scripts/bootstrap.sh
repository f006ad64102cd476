#!/usr/bin/env bash
# Install what one purpose needs, on a fresh Debian machine or this one: Debian packages (after
# apt-get update) when missing, and a venv with roost.
#
#   scripts/bootstrap.sh [demo|test|bench] [--list]
#
# demo: roost alone (JupyterLab on this computer needs nothing from Debian but Python's venv).
# test: the suite's real parts too. The SSH tests make real hosts (sshd in network namespaces)
#       and sync with rsync; shared machines run Caddy, Label Studio machines PostgreSQL (test
#       hosts use this machine's /usr); the fake cloud enforces security groups with nftables;
#       the dashboard tests drive Chromium with Playwright; the balancer's request counts are
#       checked under wrk's load; plus roost's dev extras.
# bench: the same as test (the service benchmarks load with wrk too).
# --list: print the Debian packages the purpose needs (installed or not), install nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PURPOSE=${1:-test}
LIST=${2:-}

case "$PURPOSE" in
  demo) DEBIAN_PACKAGES=(); EXTRAS="" ;;
  test) DEBIAN_PACKAGES=(openssh-server openssh-client rsync iproute2 util-linux nftables caddy curl postgresql chromium pipx wrk); EXTRAS="[dev]" ;;
  bench) DEBIAN_PACKAGES=(openssh-server openssh-client rsync iproute2 util-linux nftables caddy curl postgresql chromium pipx wrk); EXTRAS="[dev]" ;;
  *) echo "bootstrap: unknown purpose '$PURPOSE' (demo, test or bench)" >&2; exit 2 ;;
esac
# Debian's own python3 needs python3-venv for `python3 -m venv` (with pip).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then DEBIAN_PACKAGES+=(python3-venv); fi

if [ "$LIST" = "--list" ]; then
  echo "${DEBIAN_PACKAGES[*]}"
  exit 0
fi
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
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e ".${EXTRAS}"
.venv/bin/python -m compileall -q src
echo "bootstrap ($PURPOSE): roost installed in .venv ($(.venv/bin/roost --help >/dev/null && echo ok))"
