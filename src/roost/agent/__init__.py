"""The agent: a stdlib-only program shipped to each machine, and roost's client for it."""

from roost.agent.client import AGENT_SOURCE, AgentClient, AgentStatus, AppStatus

__all__ = ["AGENT_SOURCE", "AgentClient", "AgentStatus", "AppStatus"]
