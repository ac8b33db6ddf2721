"""The engine's records of a dial: `Call`, one in flight as the loop tracks it, and `Attempt`,
what every step of one attempt (voice, SMS, hand-over to an agent) works from."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from appliance.campaigns import CampaignSettings
from appliance.engine.agentstate import LiveAgent
from appliance.engine.linepool import Slot
from appliance.store.attempts import Lease
from appliance.store.campaigns import CampaignRow


@dataclass(frozen=True)
class Attempt:
    """One attempt as dialed: the contact's lease, its campaign with the settings read when the
    dial began, the line it is on and when the dial began (clock time)."""

    lease: Lease
    campaign: CampaignRow
    settings: CampaignSettings
    slot: Slot
    dialed_at: float


@dataclass
class Call:
    """A call in flight, from its lease to its outcome recorded."""

    lease: Lease
    campaign: CampaignRow
    slot: Slot
    task: asyncio.Task[None]
    started: float = 0.0  # clock time the dial began
    stage: str = "ringing"  # ringing, waiting (answered, no agent yet), up
    agent: LiveAgent | None = None  # the agent this call was dialed for (callback, preview, manual)
