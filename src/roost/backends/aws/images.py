"""Which image (AMI) a machine boots: the spec's, or Ubuntu LTS / the Deep Learning AMI by need.

Images are looked up through SSM public parameters, whose names can be changed with
``ROOST_AWS_UBUNTU_PARAMETER`` / ``ROOST_AWS_GPU_PARAMETER`` (``{arch}`` is replaced by
amd64 or arm64) or per spec with ``resources.image: ssm:/parameter/name``.
"""

from __future__ import annotations

import os

from roost.backends.aws.cloud import Cloud
from roost.catalog.offers import Offer
from roost.errors import AwsError

UBUNTU_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"
GPU_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
AWS_ARCH = {"x86_64": "x86_64", "arm64": "arm64"}
DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


def default_source(offer: Offer) -> str:
    """``ssm:NAME`` of the image roost picks for an offer: the DLAMI for GPUs, else Ubuntu LTS."""
    if offer.is_gpu:
        name = os.environ.get("ROOST_AWS_GPU_PARAMETER", GPU_PARAMETER)
    else:
        name = os.environ.get("ROOST_AWS_UBUNTU_PARAMETER", UBUNTU_PARAMETER)
    return "ssm:" + name.format(arch=DEB_ARCH[offer.arch])


def resolve_image(cloud: Cloud, source: str | None, offer: Offer) -> tuple[str, str]:
    """(AMI id, root device name) for ``source`` (an AMI id or ``ssm:NAME``), checked against the
    offer; asked of AWS once per Cloud (the check and the launch share it)."""
    return cloud.remember(("image", source, offer.instance_type), lambda: _resolve(cloud, source, offer))


def _resolve(cloud: Cloud, source: str | None, offer: Offer) -> tuple[str, str]:
    source = source or default_source(offer)
    image_id = source
    if source.startswith("ssm:"):
        name = source[len("ssm:") :]
        try:
            found = cloud.call(f"read the SSM parameter {name}", cloud.ssm.get_parameter, Name=name)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                raise AwsError(
                    f"the image parameter '{name}' does not exist in {cloud.region}",
                    code=exc.code,
                    hint="set resources.image to an AMI id (ami-...)",
                ) from None
            raise
        image_id = found["Parameter"]["Value"]
    if not image_id.startswith("ami-"):
        raise AwsError(
            f"'{source}' is not an image: write an AMI id (ami-...) or ssm:/parameter/name",
            hint="fix resources.image in the spec",
        )
    try:
        images = cloud.call(f"look up image {image_id}", cloud.ec2.describe_images, ImageIds=[image_id])["Images"]
    except AwsError as exc:
        if exc.code.startswith("InvalidAMIID"):
            images = []
        else:
            raise
    if not images:
        raise AwsError(
            f"image {image_id} does not exist in {cloud.region}",
            code="InvalidAMIID.NotFound",
            hint="check resources.image (AMIs are per region)",
        )
    image = images[0]
    arch = image.get("Architecture", "x86_64")
    if arch != AWS_ARCH[offer.arch]:
        raise AwsError(
            f"image {image_id} is built for {arch}, but instance type {offer.instance_type} is {offer.arch}",
            code="ArchitectureMismatch",
            hint=f"use an {offer.arch} image, or an instance type for {arch}",
        )
    return image_id, image.get("RootDeviceName") or "/dev/sda1"
