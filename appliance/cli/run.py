"""`dialbox run`: start the daemon in the foreground (systemd runs exactly this)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from appliance.daemon.wiring import build_daemon


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.set_defaults(func=run)


# What the daemon creates is never readable by others — its database, import stages and reject
# reports hold phone numbers — however it is started (the unit's UMask= says the same).
DAEMON_UMASK = 0o027


def run(args: argparse.Namespace) -> int:
    os.umask(os.umask(0) | DAEMON_UMASK)  # stricter bits of the caller's umask are kept
    daemon = build_daemon(args.config)
    logging.getLogger().setLevel(daemon.config.log_level)
    return asyncio.run(daemon.run())
