"""Keys of an AWS machine, all made on this computer: the login key pair and the host key.

The login key is generated here (ed25519, 0600 under ``$ROOST_HOME/keys``) and only its
public half is imported into EC2, so the private key never crosses the network; with
``aws.public_key`` the user's own key is imported instead. The machine's SSH host key is
also generated here and handed over in user-data, and its public half goes into roost's
known_hosts under the machine's name before the machine exists: the first connection is
verified, never trusted on first use. Over that connection roost then pins the key the
machine made itself (:func:`adopt_machine_host_key`), so the copy in user-data opens nothing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from pathlib import Path

from roost.backends.aws.cloud import Cloud, tags
from roost.errors import AwsError, SpecError
from roost.paths import create_once, file_lock, roost_home, write_private
from roost.spec.model import Spec
from roost.transport.base import Runner


def owner_id() -> str:
    """This ROOST_HOME's owner tag (made once, the same for every thread and process that asks
    at the same moment): resources of other owners are never touched."""
    path = roost_home() / "owner"
    if not path.exists():
        user = "".join(ch for ch in os.environ.get("USER", "user").lower() if ch.isalnum())[:16] or "user"
        return create_once(path, f"{user}-{secrets.token_hex(4)}\n".encode()).decode().strip()
    return path.read_text().strip()


def key_dir() -> Path:
    """Where login keys live (0700)."""
    path = roost_home() / "keys"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def login_key(spec: Spec) -> tuple[Path, str]:
    """(private key file, public key text) to log in with; generated once per machine."""
    if spec.aws.public_key:
        public = Path(spec.aws.public_key).expanduser()
        private = public.with_suffix("") if public.suffix == ".pub" else public
        if not public.is_file() or not private.is_file():
            raise SpecError(
                f"aws.public_key '{spec.aws.public_key}' needs both the public key and its private "
                f"key beside it ({private})",
                file=spec.source,
                field="aws.public_key",
                hint="point it at e.g. ~/.ssh/id_ed25519.pub, or remove it to let roost make a key",
            )
        return private, public.read_text().strip()
    private = key_dir() / spec.name
    if not private.exists():
        _keygen(private, comment=f"roost-{spec.name}")
    return private, private.with_suffix(".pub").read_text().strip()


def _keygen(path: Path, comment: str) -> None:
    """An ed25519 key pair at ``path`` (+.pub), written whole or not at all."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        tmp = Path(scratch) / "key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(tmp)],
            check=True,
            capture_output=True,
        )
        os.chmod(tmp, 0o600)
        os.replace(tmp.with_suffix(".pub"), path.with_suffix(".pub"))
        os.replace(tmp, path)


def forget_login_key(machine: str) -> None:
    """Delete the login key roost made for ``machine`` (never a user's own key)."""
    for path in (key_dir() / machine, key_dir() / f"{machine}.pub"):
        path.unlink(missing_ok=True)


def key_pair_name(owner: str, machine: str) -> str:
    """The EC2 key pair's name for a machine."""
    return f"roost-{owner}-{machine}"


def ensure_key_pair(cloud: Cloud, spec: Spec, owner: str) -> str:
    """Import the login key as the machine's key pair unless it is there; returns its name. A
    key pair of that name holding another key is refused (AwsError): the machine would let in
    whoever holds that key's private half, and roost could not log in."""
    name = key_pair_name(owner, spec.name)
    _, public = login_key(spec)
    try:
        found = cloud.call("look up the key pair", cloud.ec2.describe_key_pairs, KeyNames=[name], IncludePublicKey=True)
    except AwsError as exc:
        if exc.code != "InvalidKeyPair.NotFound":
            raise
    else:
        stored = (found.get("KeyPairs") or [{}])[0].get("PublicKey", "").split()
        if stored[:2] != public.split()[:2]:
            raise AwsError(
                f"EC2 key pair '{name}' already exists with another public key than roost's login key "
                f"for '{spec.name}'; nothing was created",
                code="KeyPairMismatch",
                hint=f"delete it if it is stale (aws ec2 delete-key-pair --key-name {name}), "
                "or give the machine another name",
            )
        return name
    cloud.call(
        "import the key pair",
        cloud.ec2.import_key_pair,
        KeyName=name,
        PublicKeyMaterial=public.encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags(spec.name, owner)}],
    )
    return name


def new_host_key(machine: str) -> tuple[str, str]:
    """(private, public) ed25519 host key text for a new machine; nothing is left on disk."""
    with tempfile.TemporaryDirectory(dir=key_dir()) as scratch:
        path = Path(scratch) / "host"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"roost-{machine}", "-f", str(path)],
            check=True,
            capture_output=True,
        )
        return path.read_text(), path.with_suffix(".pub").read_text().strip()


def pin_host_key(known_hosts: Path, alias: str, public: str) -> None:
    """Make ``alias`` in known_hosts map to exactly this key (replacing an older one); nodes
    coming up side by side pin theirs at once without losing each other's lines."""
    key_type, key_body = public.split()[:2]
    _rewrite_known_hosts(known_hosts, alias, f"{alias} {key_type} {key_body}")


def _rewrite_known_hosts(known_hosts: Path, alias: str, line: str | None) -> None:
    """Drop ``alias``'s lines from known_hosts and add ``line`` (when given), under its lock."""
    with file_lock(known_hosts):
        current = known_hosts.read_text().splitlines() if known_hosts.exists() else []
        kept = [each for each in current if not _names(each, alias)]
        if line is not None:
            kept.append(line)
        write_private(known_hosts, "".join(each + "\n" for each in kept).encode())


def _names(line: str, alias: str) -> bool:
    """Whether a known_hosts line is filed under ``alias`` (its first field, comma-separated)."""
    first = line.split(maxsplit=1)[0] if line.strip() else ""
    return alias in first.split(",")


MACHINE_HOST_KEY = "/etc/ssh/ssh_host_ecdsa_key.pub"
"""The host key the machine made itself at boot (see userdata.py), never in user-data."""


def adopt_machine_host_key(runner: Runner, known_hosts: Path, alias: str) -> bool:
    """Over a connection verified with the key from user-data, read the key the machine made
    itself and pin it in its place: True when it was pinned now (the user-data copy is then
    worthless to anyone who reads it). A machine without one (made by an older roost) keeps
    its pin."""
    found = runner.run(["cat", MACHINE_HOST_KEY], timeout=30, check=False)
    words = found.stdout.split()
    if not found.ok or len(words) < 2 or not words[0].startswith("ecdsa-sha2-"):
        return False
    current = known_hosts.read_text() if known_hosts.exists() else ""
    if f"{alias} {words[0]} {words[1]}" in current.splitlines():
        return False
    pin_host_key(known_hosts, alias, f"{words[0]} {words[1]}")
    return True


def unpin_host_key(known_hosts: Path, alias: str) -> None:
    """Forget the machine's host key."""
    if known_hosts.exists():
        _rewrite_known_hosts(known_hosts, alias, None)


def known_hosts() -> Path:
    """roost's own known_hosts file."""
    return roost_home() / "known_hosts"


def host_key_alias(machine: str) -> str:
    """The name a machine's host key is filed under (its address changes, its name does not)."""
    return f"roost-aws-{machine}"
