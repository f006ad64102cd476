"""Bad input on AWS: a clear error naming the value and what to do, and nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec
from tests.harness.fakecloud import ARM_AMI

CASES = [
    ({"resources": {"region": "mars-east-1"}}, "unknown AWS region 'mars-east-1'", "resources.region"),
    (
        {"resources": {"instance_type": "p9.mega"}},
        "instance type 'p9.mega' does not exist in us-east-1",
        "see `roost offers`",
    ),
    (
        {"resources": {"instance_type": "t3.micro", "accelerators": "T4:1"}},
        "instance type 't3.micro' (2 vCPUs, 1 GiB, 0 x no accelerator) does not fit",
        "drop instance_type",
    ),
    ({"resources": {"accelerators": "T5:1"}}, "no offer in us-east-1 has the accelerator 'T5'", "did you mean 'T4'"),
    (
        {"resources": {"instance_type": "t3.medium", "image": ARM_AMI}},
        f"image {ARM_AMI} is built for arm64, but instance type t3.medium is x86_64",
        "use an x86_64 image",
    ),
    (
        {"resources": {"image": "ami-0123456789abcdef0"}},
        "image ami-0123456789abcdef0 does not exist in us-east-1",
        "resources.image",
    ),
    (
        {"resources": {"image": "ssm:/no/such/parameter"}},
        "the image parameter '/no/such/parameter' does not exist",
        "ami-",
    ),
]


@pytest.mark.parametrize(("extra", "message", "hint"), CASES, ids=[c[1][:30] for c in CASES])
def test_bad_resources_are_refused_before_anything_is_created(
    aws, roost_home: Path, tmp_path: Path, extra, message, hint
) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "bad", app="jupyter", **extra))
    result = roost_cli("up", str(spec))
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and hint in result.stderr and "Traceback" not in result.stderr
    assert nothing_left(aws.ec2), tagged(aws.ec2)
    assert json.loads(roost_cli("status", "--json").stdout) == []


def test_a_subnet_that_does_not_exist(aws, roost_home: Path, tmp_path: Path) -> None:
    data = aws_spec(aws, "bad")
    data["aws"]["subnet"] = "subnet-0badbadbadbad0000"
    result = roost_cli("up", str(write_spec(tmp_path, data)))
    assert result.returncode == 1 and "subnet subnet-0badbadbadbad0000 does not exist in us-east-1" in result.stderr
    assert "aws.subnet" in result.stderr and nothing_left(aws.ec2)


def test_no_credentials_is_a_clear_error_and_creates_nothing(
    aws, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    result = roost_cli("up", str(write_spec(tmp_path, aws_spec(aws, "nocreds", app="jupyter"))))
    assert result.returncode == 1 and "no AWS credentials found; nothing was created" in result.stderr
    assert "aws configure" in result.stderr and "Traceback" not in result.stderr
    assert nothing_left(aws.ec2) and json.loads(roost_cli("status", "--json").stdout) == []


def test_aws_fields_on_another_backend_are_refused(roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"name": "x", "connect": "private"})
    result = roost_cli("up", str(spec))
    assert result.returncode == 1 and "'aws:' and 'connect:' are for backend 'aws', not 'local'" in result.stderr


def test_a_key_pair_of_roosts_name_holding_another_key_is_refused(aws, roost_home: Path, tmp_path: Path) -> None:
    """Someone made the key pair roost would use, with their own key: refused, nothing created."""
    import subprocess

    from roost.backends.aws.keys import key_pair_name, owner_id

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "theirs")], check=True)
    name = key_pair_name(owner_id(), "squat")
    aws.ec2.import_key_pair(KeyName=name, PublicKeyMaterial=(tmp_path / "theirs.pub").read_bytes())
    result = roost_cli("up", str(write_spec(tmp_path, aws_spec(aws, "squat"))))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"EC2 key pair '{name}' already exists with another public key" in result.stderr
    assert "aws ec2 delete-key-pair" in result.stderr
    assert nothing_left(aws.ec2), tagged(aws.ec2)


def test_a_new_instance_is_shown_with_its_price_and_made_only_when_confirmed(aws, tmp_path: Path) -> None:
    """On a terminal, `roost up` says what the instance will cost and asks; "n" creates nothing."""
    import os
    import pty
    import subprocess

    from tests.aws.helpers import ROOST

    spec = write_spec(tmp_path, aws_spec(aws, "asked", resources={"accelerators": "T4:1", "spot": True}))
    leader, follower = pty.openpty()
    process = subprocess.Popen([*ROOST, "up", str(spec)], stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    while b"create it?" not in seen:
        chunk = os.read(leader, 4096)  # blocks until the question (or EOF raises OSError: the test fails)
        assert chunk, seen
        seen += chunk
    os.write(leader, b"n\n")
    assert process.wait(timeout=60) == 1
    text = seen.decode()
    assert "g4dn.xlarge in us-east-1" in text and "1 x T4" in text and "spot, $0.2000/h" in text
    assert nothing_left(aws.ec2), tagged(aws.ec2)  # no key pair, no group, no instance
    assert "nothing was created" in _drain(leader)


def _drain(fd: int) -> str:
    import os

    out = b""
    try:
        while chunk := os.read(fd, 4096):
            out += chunk
    except OSError:  # the terminal closed with the process
        pass
    return out.decode()
