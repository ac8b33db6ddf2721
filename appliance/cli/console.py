"""`dialbox console`: the technician's terminal UI, over the daemon's Unix socket or a URL."""

from __future__ import annotations

import argparse
import os

from appliance.errors import DialboxError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "console",
        help="the technician's console (Textual), a client of the running daemon",
        description="Open the console. By default it talks to the daemon over the Unix socket "
        "named in the config (api.socket); --url with --token (or $DIALBOX_TOKEN) reaches a "
        "daemon over TCP.",
    )
    p.add_argument("--url", help="the daemon's API URL, e.g. http://box:8080")
    p.add_argument("--token", help="API token for --url (default: $DIALBOX_TOKEN)")
    p.add_argument("--socket", help="the daemon's Unix socket (default: from the config)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.cli.context import load
    from tui.app import Console
    from tui.client import Client

    if args.url:
        client = Client(url=args.url, token=args.token or os.environ.get("DIALBOX_TOKEN"))
    else:
        socket = args.socket
        if socket is None:
            socket = load(args).api.socket
        if socket is None:
            raise DialboxError(
                "no API socket: set api.socket in the config, or give --url and --token"
            )
        client = Client(socket=str(socket))
    Console(client).run()
    return 0
