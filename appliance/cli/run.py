"""`dialbox run`: start the daemon in the foreground (systemd runs exactly this)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from appliance.daemon.wiring import build_daemon


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    daemon = build_daemon(args.config)
    logging.getLogger().setLevel(daemon.config.log_level)
    return asyncio.run(daemon.run())
