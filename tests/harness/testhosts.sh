#!/usr/bin/env bash
# Copied from ../shared/tools/testhosts.sh (tested there) so the project carries its own harness.
# testhosts.sh - N fake "remote machines" on this box. Each is a real OpenSSH sshd running
# as PID 1 of its own network + UTS + mount + PID namespaces, reachable from the root
# namespace over a private bridge. Needs root, iproute2, util-linux, openssh-server/-client.
#
#   testhosts.sh up [N]            create hosts 1..N (default 2); refuses if TH_DIR is in use
#   testhosts.sh down              kill every host's process tree; delete netns, bridge, users, TH_DIR
#   testhosts.sh status            one line per host
#   testhosts.sh env               shell exports (eval "$(testhosts.sh env)")
#   testhosts.sh ssh I [CMD...]    ssh to host I as its user (generated ssh_config)
#   testhosts.sh root I CMD...     run CMD as root inside host I's namespaces (nsenter)
#   testhosts.sh authorize I FILE  append a public key (e.g. from moto's create_key_pair) for host I's user
#   testhosts.sh stop I | start I  kill host I's process tree (like an instance stop/spot loss) / boot it again
#   testhosts.sh cut I | heal I    take host I's link down / up (network partition, connects time out)
#
# Knobs (environment; use the same values for every subcommand):
#   TH_DIR=/tmp/testhosts   state: client key, known_hosts, ssh_config, hosts.txt, per-host dirs hI/
#   TH_PREFIX=th            netns th1..thN, bridge thbr0, veth thv1.., users thu1.. (unless TH_USER)
#   TH_NET=10.250.0         the /24 used; the root namespace is ${TH_NET}.1 on the bridge
#   TH_FIRST=2              last octet of host 1; host i = ${TH_NET}.(TH_FIRST+i-1).
#                           TH_FIRST=4 matches moto: in a moto subnet ${TH_NET}.0/24 the k-th
#                           instance launched gets PrivateIpAddress ${TH_NET}.(3+k).
#   TH_USER=                one login name on every host (e.g. ubuntu); default: a user per host
#   TH_PRIVATE_TMP=1        per-host /tmp (dir under TH_DIR, mode 1777); 0 = share the real /tmp
#
# Each host i: netns ${TH_PREFIX}i with eth0 on the bridge and NO default route (it can reach
# only the bridge subnet; the root namespace answers at ${TH_NET}.1 for services bound to
# 0.0.0.0 or ${TH_NET}.1). hostname ${TH_PREFIX}i. Own PID namespace: ps/kill on the host see
# only the host, and stop/down kill everything started there. Private /home, /tmp, /etc/ssh,
# /etc/hosts (bind mounts from TH_DIR/hI/); the rest of the filesystem (/usr, python3, ...) is
# shared read-write with the real machine, so the host's user sees the real /usr etc.
# sshd: port 22, own ed25519 host key (pinned in TH_DIR/known_hosts), pubkey auth only.
set -euo pipefail

TH_DIR=${TH_DIR:-/tmp/testhosts}
TH_PREFIX=${TH_PREFIX:-th}
TH_NET=${TH_NET:-10.250.0}
TH_FIRST=${TH_FIRST:-2}
TH_USER=${TH_USER:-}
TH_PRIVATE_TMP=${TH_PRIVATE_TMP:-1}
BR=${TH_PREFIX}br0

die() { echo "testhosts: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing $1 (apt-get install -y $2)"; }
# running and not a zombie (PID 1 of this box reaps orphans lazily)
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }

host_ip()   { echo "${TH_NET}.$(( TH_FIRST + $1 - 1 ))"; }
host_ns()   { echo "${TH_PREFIX}$1"; }
host_user() { if [ -n "$TH_USER" ]; then echo "$TH_USER"; else echo "${TH_PREFIX}u$1"; fi; }
host_dir()  { echo "$TH_DIR/h$1"; }
host_pid1() { # root-namespace PID of host I's sshd (PID 1 inside the host)
  local u; u=$(cat "$(host_dir "$1")/unshare.pid" 2>/dev/null) || return 1
  alive "$u" || return 1
  awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null
}
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

write_init() { # runs as PID 1 of each host, inside all its namespaces
  cat >"$TH_DIR/hostinit.sh" <<'EOF'
#!/bin/sh
# $1 = host dir, $2 = hostname, $3 = private tmp (1/0)
set -e
HD=$1
hostname "$2"
mount --bind "$HD/ssh"   /etc/ssh
mount --bind "$HD/hosts" /etc/hosts
mount --bind "$HD/home"  /home
# first boot of a fake cloud instance: its user-data runs before sshd, as cloud-init's does
if [ -f "$HD/firstboot.sh" ]; then
  if sh "$HD/firstboot.sh" >"$HD/firstboot.log" 2>&1; then echo ok; else echo "failed: $?"; fi >"$HD/firstboot.status"
  rm -f "$HD/firstboot.sh"
fi
[ "$3" = 1 ] && mount --bind "$HD/tmp" /tmp     # last: HD may live under /tmp
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
EOF
  chmod 755 "$TH_DIR/hostinit.sh"
}

start_host() { # boot host I's process tree (network and files must exist)
  local i=$1 ns hd
  ns=$(host_ns "$i"); hd=$(host_dir "$i")
  if host_pid1 "$i" >/dev/null; then return 0; fi
  # unshare stays in the root PID namespace; its forked child becomes PID 1 (sshd).
  ip netns exec "$ns" unshare --uts --mount --propagation private --pid --fork --mount-proc \
      --kill-child=SIGTERM "$TH_DIR/hostinit.sh" "$hd" "$ns" "$TH_PRIVATE_TMP" \
      </dev/null >>"$hd/console.log" 2>&1 &
  echo $! >"$hd/unshare.pid"
}

wait_host() {
  local i=$1 ip t=0; ip=$(host_ip "$i")
  until port_open "$ip" 22; do
    t=$((t + 1)); [ $t -le 200 ] || { cat "$(host_dir "$i")/console.log" >&2; die "host $i sshd not up"; }
    sleep 0.05
  done
}

stop_host() { # kill host I's whole process tree; network and files stay
  local i=$1 hd pid c
  hd=$(host_dir "$i")
  [ -f "$hd/unshare.pid" ] || return 0
  pid=$(cat "$hd/unshare.pid")
  # only touch it if it is still our unshare process for this host
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "hostinit.sh $hd "; then
    # unshare --fork blocks SIGTERM itself; signal its child, the host's PID 1 (sshd).
    # When PID 1 of a PID namespace exits, the kernel SIGKILLs everything else in it.
    for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true); do kill -TERM "$c" 2>/dev/null || true; done
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
    # fallback: SIGKILL unshare; --kill-child then SIGTERMs the host's PID 1
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$hd/unshare.pid"
}

cmd_up() {
  local n=${1:-2}
  [ "$(id -u)" = 0 ] || die "must be root"
  need ip iproute2; need unshare util-linux; need nsenter util-linux
  need /usr/sbin/sshd openssh-server; need ssh-keygen openssh-client
  [ -e "$TH_DIR/hosts.txt" ] && die "$TH_DIR already set up; run down first"
  [ $(( TH_FIRST + n - 1 )) -le 254 ] || die "too many hosts for ${TH_NET}.0/24"
  mkdir -p "$TH_DIR"; chmod 755 "$TH_DIR"
  write_init

  [ -f "$TH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C testhosts -f "$TH_DIR/id_ed25519"
  : >"$TH_DIR/known_hosts"; : >"$TH_DIR/ssh_config"; : >"$TH_DIR/hosts.txt"
  printf '127.0.0.1 localhost\n%s.1 %sgw\n' "$TH_NET" "$TH_PREFIX" >"$TH_DIR/etc_hosts"
  for i in $(seq 1 "$n"); do printf '%s %s\n' "$(host_ip "$i")" "$(host_ns "$i")" >>"$TH_DIR/etc_hosts"; done

  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add "$BR" type bridge
    ip addr add "${TH_NET}.1/24" dev "$BR"
    ip link set "$BR" up
  fi

  for i in $(seq 1 "$n"); do
    local ns ip user hd
    ns=$(host_ns "$i"); ip=$(host_ip "$i"); user=$(host_user "$i"); hd=$(host_dir "$i")

    ip netns add "$ns"
    ip link add "${TH_PREFIX}v$i" type veth peer name eth0 netns "$ns"
    ip link set "${TH_PREFIX}v$i" master "$BR" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up

    # the passwd entry is global; the home dir exists only inside the host's mount ns.
    # '-p *' = no password but not "locked", so pubkey login works with UsePAM no.
    if ! id "$user" >/dev/null 2>&1; then
      useradd -M -U -d "/home/$user" -s /bin/bash -p '*' "$user"
      echo "$user" >>"$TH_DIR/users_created"
    fi
    mkdir -p "$hd/ssh" "$hd/home/$user/.ssh" "$hd/tmp"
    chmod 755 "$hd" "$hd/home"; chmod 1777 "$hd/tmp"
    cp /etc/ssh/ssh_config "$hd/ssh/" 2>/dev/null || true
    cp /etc/ssh/moduli "$hd/ssh/" 2>/dev/null || true
    cp "$TH_DIR/id_ed25519.pub" "$hd/home/$user/.ssh/authorized_keys"
    chmod 700 "$hd/home/$user" "$hd/home/$user/.ssh"; chmod 600 "$hd/home/$user/.ssh/authorized_keys"
    chown -R "$user:$user" "$hd/home/$user"
    cp "$TH_DIR/etc_hosts" "$hd/hosts"

    ssh-keygen -q -t ed25519 -N '' -C "$ns" -f "$hd/ssh/ssh_host_ed25519_key"
    cat >"$hd/ssh/sshd_config" <<EOF
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin no
AllowUsers $user
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes yes
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
UseDNS no
MaxStartups 100:30:200
MaxSessions 64
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF
    echo "$ns,$ip $(cut -d' ' -f1,2 "$hd/ssh/ssh_host_ed25519_key.pub")" >>"$TH_DIR/known_hosts"
    cat >>"$TH_DIR/ssh_config" <<EOF
Host $ns
  HostName $ip
  User $user
  IdentityFile $TH_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $TH_DIR/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
  LogLevel ERROR

EOF
    echo "$i $ns $ip $user" >>"$TH_DIR/hosts.txt"
    start_host "$i"
  done
  for i in $(seq 1 "$n"); do wait_host "$i"; done
  echo "testhosts: $n host(s) up; try: ssh -F $TH_DIR/ssh_config $(host_ns 1) hostname"
}

cmd_down() {
  local i ns user
  if [ -f "$TH_DIR/hosts.txt" ]; then
    while read -r i ns _ _; do
      stop_host "$i"
      ip netns del "$ns" 2>/dev/null || true      # also removes the veth pair
    done <"$TH_DIR/hosts.txt"
  fi
  # namespaces left by an `up` that failed half-way (named by this script's own scheme)
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${TH_PREFIX}[0-9]+\$" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
  if [ -f "$TH_DIR/users_created" ]; then
    while read -r user; do
      id "$user" >/dev/null 2>&1 && { userdel "$user" 2>/dev/null || true; }
      getent group "$user" >/dev/null && { groupdel "$user" 2>/dev/null || true; }
    done <"$TH_DIR/users_created"
  fi
  if ip link show "$BR" >/dev/null 2>&1; then ip link del "$BR"; fi
  rm -rf "$TH_DIR"
  echo "testhosts: down"
}

cmd_status() {
  [ -f "$TH_DIR/hosts.txt" ] || { echo "no hosts (TH_DIR=$TH_DIR)"; return 0; }
  local i ns ip user p st
  while read -r i ns ip user; do
    p=$(host_pid1 "$i" || echo -)
    if port_open "$ip" 22; then st=up; else st=DOWN; fi
    echo "$ns $ip user=$user pid1=$p sshd=$st"
  done <"$TH_DIR/hosts.txt"
}

cmd_env() {
  [ -f "$TH_DIR/hosts.txt" ] || die "no hosts"
  echo "export TH_DIR='$TH_DIR' TH_SSH_CONFIG='$TH_DIR/ssh_config' TH_KEY='$TH_DIR/id_ed25519' TH_KNOWN_HOSTS='$TH_DIR/known_hosts' TH_GATEWAY='${TH_NET}.1'"
  local hosts="" i ns ip user
  while read -r i ns ip user; do hosts="$hosts $user@$ip"; done <"$TH_DIR/hosts.txt"
  echo "export TH_HOSTS='${hosts# }'"
}

sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  ssh) i=$1; shift; exec ssh -F "$TH_DIR/ssh_config" "$(host_ns "$i")" "$@" ;;
  root) i=$1; shift; p=$(host_pid1 "$i") || die "host $i not running"
        exec nsenter --target "$p" --net --uts --mount --pid --ipc -- "$@" ;;
  authorize) i=$1; u=$(host_user "$i"); f="$(host_dir "$i")/home/$u/.ssh/authorized_keys"
        cat "$2" >>"$f"; chown "$u:$u" "$f" ;;
  stop) stop_host "$1" ;;
  start) start_host "$1"; wait_host "$1" ;;
  cut) ip link set "${TH_PREFIX}v$1" down ;;
  heal) ip link set "${TH_PREFIX}v$1" up ;;
  *) sed -n '2,36p' "$0"; exit 2 ;;
esac
