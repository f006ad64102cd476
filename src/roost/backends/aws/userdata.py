"""The user-data script a new instance runs once at boot (as root, via cloud-init).

It installs the SSH host key roost generated (and removes every other host key), so the
key roost pinned is the only one the machine can offer, then makes sshd use it. roost's
agent (41 KB) does not fit user-data's 16 KB limit: it is installed over the first,
verified SSH connection instead.
"""

from __future__ import annotations

import shlex

TEMPLATE = """#!/bin/sh
# roost user-data for machine {machine}: pin the SSH host key roost generated for it
set -eu
umask 077
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
cat > /etc/ssh/ssh_host_ed25519_key <<'ROOST_KEY'
{private}ROOST_KEY
printf '%s\\n' {public} > /etc/ssh/ssh_host_ed25519_key.pub
chmod 600 /etc/ssh/ssh_host_ed25519_key
chmod 644 /etc/ssh/ssh_host_ed25519_key.pub
if [ -d /run/systemd/system ]; then
  systemctl restart ssh 2>/dev/null || systemctl restart sshd
elif [ "$(cat /proc/1/comm)" = sshd ]; then
  kill -HUP 1   # sshd as init (a container): it re-executes and reads the new key
fi
"""


def user_data(machine: str, host_private: str, host_public: str) -> str:
    """The script, with the host key pair in it."""
    if not host_private.endswith("\n"):
        host_private += "\n"
    return TEMPLATE.format(machine=machine, private=host_private, public=shlex.quote(host_public))
