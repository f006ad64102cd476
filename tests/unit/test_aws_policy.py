"""``roost aws-policy``: every AWS call roost makes is allowed, and changes are limited to roost's tags."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "roost"
CALL = re.compile(r"\b(ec2|ssm|s3|client)\.(?:get_paginator\(\"([a-z_]+)\"\)|([a-z][a-z_0-9]+)\b)")
NOT_API = {"get_paginator"}
# the IAM action of each call whose name does not say it
IAM_ACTION = {
    "download_file": "s3:GetObject",
    "upload_file": "s3:PutObject",
    "head_bucket": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
    "get_products": "pricing:GetProducts",
}


def _calls() -> set[str]:
    """``service:Action`` for each boto3 call in roost's source."""
    found = set()
    for path in SRC.rglob("*.py"):
        for service, paginated, method in CALL.findall(path.read_text()):
            name = paginated or method
            if name in IAM_ACTION:
                found.add(IAM_ACTION[name])
            elif name not in NOT_API:
                found.add(f"{service}:{''.join(part.title() for part in name.split('_'))}")
    return found


def _policy(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "roost", "aws-policy", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_policy_allows_every_call_roost_makes_and_changes_only_tagged_resources() -> None:
    policy = _policy("--bucket", "team-backups", "--prefix", "roost/")
    allowed = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    calls = _calls()
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "s3:PutObject"} <= calls  # the scan sees roost's calls
    assert calls - allowed == set()
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith(("ec2:Terminate", "ec2:Stop", "ec2:Start", "ec2:Delete", "ec2:Revoke")) for a in actions):
            assert statement["Condition"] == {"StringLike": {"aws:ResourceTag/roost:owner": "*"}}
        if statement["Sid"] == "Backups":
            assert statement["Resource"] == "arn:aws:s3:::team-backups/roost/*"
    assert "s3:PutObject" not in json.dumps(_policy())  # no bucket: no S3 at all
