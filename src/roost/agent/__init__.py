"""The agent: a stdlib-only program shipped to each machine, and roost's client for it."""

from roost.agent.client import AgentClient, AgentStatus, AppStatus, agent_archive

__all__ = ["AgentClient", "AgentStatus", "AppStatus", "agent_archive"]
