"""The user-data script a new instance runs once at boot (as root, via cloud-init).

It installs the SSH host key roost generated (and removes every other host key), so the
key roost pinned is the only one the machine can offer at first. That key stays readable in
user-data (from the instance metadata service, and to AWS principals allowed
DescribeInstanceAttribute) for the instance's life, so the script also makes a second host
key on the machine itself, which never leaves it: over the first connection (verified with
the first key) roost reads its public half and pins it instead, and the first key is worth
nothing from then on. The metadata service is closed to every user but root (an nftables
rule, made again at each boot where systemd runs). roost's agent (41 KB) does not fit
user-data's 16 KB limit: it is installed over the first, verified SSH connection instead.
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
# the key roost pins after its first verified connection: made here, never in user-data
ssh-keygen -q -t ecdsa -b 256 -N '' -C roost-{machine} -f /etc/ssh/ssh_host_ecdsa_key
chmod 600 /etc/ssh/ssh_host_ecdsa_key
chmod 644 /etc/ssh/ssh_host_ecdsa_key.pub
if grep -q '^HostKey' /etc/ssh/sshd_config; then
  echo 'HostKey /etc/ssh/ssh_host_ecdsa_key' >> /etc/ssh/sshd_config
fi
if [ -d /run/systemd/system ]; then
  systemctl restart ssh 2>/dev/null || systemctl restart sshd
elif [ "$(cat /proc/1/comm)" = sshd ]; then
  kill -HUP 1   # sshd as init (a container): it re-executes and reads the new key
fi
# the instance metadata service (which serves this script) answers root only
imds_rules() {{ cat <<'NFT'
table inet roost_imds {{}}
delete table inet roost_imds
table inet roost_imds {{
  chain output {{
    type filter hook output priority 0; policy accept;
    ip daddr 169.254.169.254 meta skuid != 0 reject
    ip6 daddr fd00:ec2::254 meta skuid != 0 reject
  }}
}}
NFT
}}
if command -v nft >/dev/null 2>&1; then
  imds_rules | nft -f - || true
  if [ -d /run/systemd/system ]; then
    mkdir -p /etc/roost && imds_rules > /etc/roost/imds.nft
    cat > /etc/systemd/system/roost-imds.service <<'UNIT'
[Unit]
Description=roost: the instance metadata service answers root only
[Service]
Type=oneshot
ExecStart=/usr/sbin/nft -f /etc/roost/imds.nft
[Install]
WantedBy=multi-user.target
UNIT
    systemctl enable roost-imds.service 2>/dev/null || true
  fi
fi
# the gateway (Caddy, run as the login user) may bind 443 on this single-user machine
echo 443 > /proc/sys/net/ipv4/ip_unprivileged_port_start
if [ -d /run/systemd/system ]; then
  echo 'net.ipv4.ip_unprivileged_port_start = 443' > /etc/sysctl.d/60-roost.conf
fi
{extra}"""

INSTALL_CADDY = """# a shared app is served through Caddy from the distribution
command -v caddy >/dev/null 2>&1 || {{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q caddy \
  && systemctl disable --now caddy 2>/dev/null || true; }}
"""


def user_data(machine: str, host_private: str, host_public: str, *, shared: bool = False) -> str:
    """The script, with the host key pair in it (and Caddy's install for a shared app)."""
    if not host_private.endswith("\n"):
        host_private += "\n"
    return TEMPLATE.format(
        machine=machine,
        private=host_private,
        public=shlex.quote(host_public),
        extra=INSTALL_CADDY.format() if shared else "",
    )
