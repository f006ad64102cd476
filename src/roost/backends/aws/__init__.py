"""AWS EC2: the only package that imports boto3 (lazily, when a machine is on AWS).

The backend is :class:`roost.backends.aws.backend.AwsBackend`; this package imports nothing
itself, so that S3 backups (which need only ``cloud``) do not load the EC2 modules.
"""
