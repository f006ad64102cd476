"""AWS sessions for roost, and AWS errors turned into roost errors that say what to do.

boto3 is imported only through :func:`boto3_module`; S3 backups get their client from
:func:`s3_client`. ``AWS_ENDPOINT_URL`` (boto3's own setting) points every client at another
endpoint, which is how the tests reach moto.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from roost.errors import AwsError, NotBuiltYet

T = TypeVar("T")
DEFAULT_REGION = "us-east-1"

CAPACITY_CODES = {
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InsufficientHostCapacity",
    "Unsupported",
}
QUOTA_CODES = {
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "ResourceLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "SecurityGroupLimitExceeded",
    "KeyPairLimitExceeded",
}
AUTH_CODES = {
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "AccessDenied",
    "AccessDeniedException",
}


def boto3_module() -> Any:
    """boto3, or NotBuiltYet saying how to install it."""
    try:
        import boto3  # optional dependency (roost[aws]), imported only here
    except ImportError:  # pragma: no cover - depends on how roost was installed
        raise NotBuiltYet(
            "AWS (the aws backend, s3:// backups) needs boto3, which is not installed; nothing was created",
            hint="pip install 'roost[aws]'",
        ) from None
    return boto3


def client_errors() -> tuple[Any, Any]:
    """botocore's (ClientError, BotoCoreError): what an AWS call raises when it fails."""
    boto3_module()
    from botocore.exceptions import BotoCoreError, ClientError  # optional dependency, with boto3

    return ClientError, BotoCoreError


@functools.cache
def _service_models() -> Any:
    """botocore's loader of the services' API models, shared by every session of this process:
    a session of its own parses EC2's model again (~0.15 CPU-s for each machine brought up side
    by side, and for each of the server's rounds)."""
    boto3_module()
    from botocore.loaders import create_loader  # optional dependency, with boto3

    return create_loader()


def aws_session(region: str | None = None) -> Any:
    """A botocore session with the credentials and settings boto3 would find (environment,
    ~/.aws), made anew each call (so a changed environment counts), its API models shared."""
    boto3 = boto3_module()
    import botocore.session  # optional dependency, with boto3

    session = botocore.session.get_session()
    session.register_component("data_loader", _service_models())
    session.user_agent_name, session.user_agent_version = "Boto3", boto3.__version__
    if region:
        session.set_config_variable("region", region)
    return session


def s3_client() -> Any | None:
    """An S3 client with the caller's credentials and patient retries; None without credentials.
    A boto3 session of its own: boto3 gives S3 clients upload_file and download_file."""
    from botocore.config import Config  # optional dependency, with boto3

    session = boto3_module().session.Session()
    if session.get_credentials() is None:
        return None
    region = session.region_name or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    return session.client(
        "s3",
        region_name=region,
        config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=120),
    )


@functools.cache
def known_regions() -> frozenset[str]:
    """Regions where EC2 exists (from botocore's endpoint data, no network)."""
    session = aws_session()
    return frozenset(session.get_available_regions("ec2")) | frozenset(
        session.get_available_regions("ec2", partition_name="aws-us-gov")
    )


class Cloud:
    """EC2 and SSM clients for one region, with credentials checked once."""

    def __init__(self, region: str | None) -> None:
        self.region = region or DEFAULT_REGION
        if self.region not in known_regions():
            raise AwsError(
                f"unknown AWS region '{self.region}'",
                code="UnknownRegion",
                hint="set resources.region to a region such as us-east-1, eu-west-1 or us-west-2",
            )
        from botocore.config import Config  # optional dependency, with boto3

        self.session = aws_session(self.region)
        if self.session.get_credentials() is None:
            raise AwsError(
                "no AWS credentials found; nothing was created",
                code="NoCredentials",
                hint="run `aws configure`, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )
        config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=60)
        self.ec2 = self.client("ec2", config=config)
        self.ssm = self.client("ssm", config=config)
        self._answers: dict[Hashable, Any] = {}

    def remember(self, key: Hashable, ask: Callable[[], T]) -> T:
        """``ask()``'s answer, asked once per Cloud (one operation: an up's steps share what
        does not change under them, such as the subnet and the image, where each asked AWS anew)."""
        if key not in self._answers:
            self._answers[key] = ask()
        return cast(T, self._answers[key])

    def client(self, service: str, **options: Any) -> Any:
        """A boto3 client of ``service`` (in this cloud's region unless ``region_name`` says)."""
        return self.session.create_client(service, **{"region_name": self.region, **options})

    def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call ``fn(**kwargs)``; an AWS failure becomes an AwsError naming ``what``."""
        with translate(what):
            return fn(**kwargs)


@contextmanager
def translate(what: str) -> Iterator[None]:
    """Turn botocore errors raised inside into AwsError with a hint."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # optional dependency, with boto3

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", exc))
        raise AwsError(f"AWS refused to {what}: {code}: {message}", code=code, hint=hint_for(code)) from None
    except NoCredentialsError:
        raise AwsError(
            "no AWS credentials found",
            code="NoCredentials",
            hint="run `aws configure`, or set AWS_PROFILE or AWS_ACCESS_KEY_ID",
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"could not {what}: {exc}", hint="check the network and the region, then run again") from None


def hint_for(code: str) -> str:
    """What the user can do about an AWS error code."""
    if code in AUTH_CODES:
        return "check the credentials (aws sts get-caller-identity) and that they may use EC2"
    if code in QUOTA_CODES:
        return "ask AWS for a higher quota (Service Quotas console), use a smaller type, or another region"
    if code in CAPACITY_CODES:
        return "try another region or instance type, or later; with spot, try on-demand (spot: false)"
    if code.startswith("InvalidAMIID"):
        return "check resources.image (an AMI id in this region, or ssm:/parameter/name)"
    if code.startswith("InvalidSubnet") or code.startswith("InvalidVpc"):
        return "check aws.subnet in the spec (a subnet id in this region)"
    if code == "InvalidParameterValue":
        return "check the spec's resources (instance type, image, disk) against this region"
    return "run again; `roost down NAME` removes anything a failed `up` created"


def tags(machine: str, owner: str, **extra: str) -> list[dict[str, str]]:
    """roost's tags for a resource of ``machine``."""
    pairs = {"roost:machine": machine, "roost:owner": owner, "Name": f"roost-{machine}", **extra}
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def tag_filters(machine: str | None, owner: str) -> list[dict[str, Any]]:
    """Filters matching roost's tags (every machine of ``owner`` when ``machine`` is None)."""
    filters: list[dict[str, Any]] = [{"Name": "tag:roost:owner", "Values": [owner]}]
    if machine is not None:
        filters.append({"Name": "tag:roost:machine", "Values": [machine]})
    return filters
