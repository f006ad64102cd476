"""The least-privilege IAM policy roost needs (``roost aws-policy``), from the calls it makes.

Reads (``Describe*``, SSM's public image parameters, prices) cannot be limited by resource in
AWS, so they are ``*``. Everything roost creates must carry its ``roost:owner`` tag at creation
(``aws:RequestTag``); everything it changes or deletes must already carry it
(``aws:ResourceTag``), so a roost credential cannot touch instances, groups or keys it did
not make.
"""

from __future__ import annotations

from typing import Any

OWNER_TAG = "roost:owner"
READS = [
    "ec2:DescribeInstances",
    "ec2:DescribeImages",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribePlacementGroups",
    "pricing:GetProducts",
]
CHANGES_OF_ITS_OWN = [
    "ec2:ModifyInstanceAttribute",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteKeyPair",
    "ec2:DeleteVolume",
    "ec2:DeletePlacementGroup",
]

CREATES = ["RunInstances", "CreateSecurityGroup", "ImportKeyPair", "CreatePlacementGroup"]
"""What roost creates: each only with its owner tag, and tags only at creation."""
GROUPS_AND_KEYS = ("security-group", "key-pair", "placement-group")


def _tagged(kind: str) -> dict[str, Any]:
    return {"StringLike": {f"aws:{kind}/{OWNER_TAG}": "*"}}


def iam_policy(bucket: str | None = None, prefix: str = "") -> dict[str, Any]:
    """The policy document (IAM JSON); with ``bucket``, S3 backups under ``prefix`` in it too."""
    statements = _ec2_statements() + (_s3_statements(bucket, prefix) if bucket else [])
    return {"Version": "2012-10-17", "Statement": statements}


def _ec2_statements() -> list[dict[str, Any]]:
    ec2 = "arn:aws:ec2:*:*"
    return [
        {"Sid": "Read", "Effect": "Allow", "Action": READS, "Resource": "*"},
        {
            "Sid": "UbuntuImageParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:*::parameter/aws/service/*",
        },
        {
            "Sid": "CreateOnlyTagged",
            "Effect": "Allow",
            "Action": [f"ec2:{action}" for action in CREATES],
            "Resource": [f"{ec2}:{kind}/*" for kind in ("instance", "volume", *GROUPS_AND_KEYS)],
            "Condition": _tagged("RequestTag"),
        },
        {
            "Sid": "LaunchFromImagesSubnetsAndItsGroups",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateSecurityGroup"],
            "Resource": [
                "arn:aws:ec2:*::image/*",
                f"{ec2}:subnet/*",
                f"{ec2}:network-interface/*",
                f"{ec2}:vpc/*",
                *(f"{ec2}:{kind}/*" for kind in GROUPS_AND_KEYS),
            ],
        },
        {
            "Sid": "TagOnlyWhileCreating",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {"StringEquals": {"ec2:CreateAction": CREATES}},
        },
        {
            "Sid": "ChangeOnlyItsOwn",
            "Effect": "Allow",
            "Action": CHANGES_OF_ITS_OWN,
            "Resource": "*",
            "Condition": _tagged("ResourceTag"),
        },
    ]


def _s3_statements(bucket: str, prefix: str) -> list[dict[str, Any]]:
    folder = prefix.strip("/")
    listing: dict[str, Any] = {
        "Sid": "ListBackups",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket}",
    }
    if folder:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{folder}/*", folder]}}
    objects = {
        "Sid": "Backups",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "Resource": f"arn:aws:s3:::{bucket}/{folder + '/' if folder else ''}*",
    }
    return [listing, objects]
