"""The SSH backend: machines the user already reaches over SSH (``backend``)."""
