"""Runners: one protocol for running commands on a machine (see :mod:`roost.runner.base`)."""

from roost.runner.base import Command, Result, Runner, command_text
from roost.runner.local import LocalRunner

__all__ = ["Command", "LocalRunner", "Result", "Runner", "command_text"]
