"""What every command needs: the config found by the shared rule, the open store, the clock, the actor."""

from __future__ import annotations

import argparse
import getpass
from dataclasses import dataclass

from appliance.clock import Clock, SystemClock
from appliance.config import DialboxConfig, load_config
from appliance.store import Database, open_database


@dataclass
class Context:
    config: DialboxConfig
    db: Database
    clock: Clock
    actor: str


def load(args: argparse.Namespace) -> DialboxConfig:
    return load_config(getattr(args, "config", None))


def open_context(args: argparse.Namespace) -> Context:
    config = load(args)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Context(
        config=config,
        db=open_database(config.store_url()),
        clock=SystemClock(),
        actor=f"cli:{user}",
    )
