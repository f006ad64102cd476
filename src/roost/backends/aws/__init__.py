"""AWS EC2: the only package that imports boto3 (lazily, when a machine is on AWS)."""

from roost.backends.aws.backend import AwsBackend

__all__ = ["AwsBackend"]
