"""What the agent desk and the engine refuse, as domain errors; `api/` words them as HTTP.

Each message names what was wrong and what to do; the HTTP status each maps to lives in the API
layer (`api/agents.py`), so the engine knows nothing of HTTP.
"""

from __future__ import annotations

from appliance.errors import DialboxError, NotFound


class AgentError(DialboxError):
    """An agent's request the desk cannot carry out (the base of the errors below)."""


class UnknownAgent(AgentError, NotFound):
    """No agent position of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent named {name!r}")
        self.name = name


class AgentRequestInvalid(AgentError):
    """The request names something that does not exist or leaves out what is needed (a seat)."""


class AgentConflict(AgentError):
    """The agent's (or the contact's, the line's) state does not allow it now."""


class DialerNotRunning(AgentError):
    """No engine is attached to the desk, so nothing can be dialed."""
