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
On a spot instance a small root process relays EC2's interruption notice to the agent.
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


SPOT_RELAY = """# a spot instance: root relays EC2's interruption notice (the metadata service answers root
# only) into a file the login user's agent reads, every 5 s
relay_dir="$(getent passwd {user} | cut -d: -f6)/.roost-spot"
install -d -m 755 -o root -g root "$relay_dir"
cat > /usr/local/sbin/roost-spot-relay <<'RELAY'
#!/usr/bin/python3
import os, sys, time, urllib.request as u
out = sys.argv[1]
imds = u.build_opener(u.ProxyHandler({{}}))
while True:
    try:
        token = imds.open(u.Request("http://169.254.169.254/latest/api/token", method="PUT",
                                    headers={{"X-aws-ec2-metadata-token-ttl-seconds": "300"}}), timeout=2).read()
        notice = imds.open(u.Request("http://169.254.169.254/latest/meta-data/spot/instance-action",
                                     headers={{"X-aws-ec2-metadata-token": token.decode()}}), timeout=2).read()
        with open(out + ".tmp", "wb") as handle:
            handle.write(notice[:4096])
        os.chmod(out + ".tmp", 0o644)
        os.replace(out + ".tmp", out)
    except Exception:
        pass  # 404 until AWS decides to reclaim the instance
    time.sleep(5)
RELAY
chmod 755 /usr/local/sbin/roost-spot-relay
if [ -d /run/systemd/system ]; then
  cat > /etc/systemd/system/roost-spot-relay.service <<UNIT
[Unit]
Description=roost: relay EC2's spot interruption notice to the agent
[Service]
ExecStart=/usr/local/sbin/roost-spot-relay $relay_dir/instance-action
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
  systemctl enable --now roost-spot-relay.service 2>/dev/null || true
else
  setsid /usr/local/sbin/roost-spot-relay "$relay_dir/instance-action" </dev/null >/dev/null 2>&1 &
fi
"""


def user_data(
    machine: str, host_private: str, host_public: str, *, shared: bool = False, spot: bool = False, user: str = ""
) -> str:
    """The script, with the host key pair in it (and Caddy's install for a shared app, and on a
    spot instance the interruption notice's relay to the login ``user``)."""
    if not host_private.endswith("\n"):
        host_private += "\n"
    extra = INSTALL_CADDY.format() if shared else ""
    if spot:
        extra += SPOT_RELAY.format(user=shlex.quote(user))
    return TEMPLATE.format(machine=machine, private=host_private, public=shlex.quote(host_public), extra=extra)
