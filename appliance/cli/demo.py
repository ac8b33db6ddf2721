"""`dialbox demo`: the main job on the embedded default — emulated modems, a local SQLite file, samples.

One process runs four emulated GSM modems on pseudo-terminals, an emulated line card (four FXO
lines and two FXS handsets on python-can's virtual bus) and the real daemon against them (the
same drivers, engine and store as on a box), with three campaigns from the shipped sample: an
automated voice campaign and an SMS campaign sharing the GSM lines, and an agent campaign on the
card's lines whose answered calls are bridged to two agents' handsets. Two scripted agents
(`demo/agents.py`-like: log in, go ready, set a disposition after each call, now and then a
callback) stand in for people. It shows live progress until Ctrl-C (which drains like SIGTERM),
or with `--headless --duration S --json` runs unattended and prints one JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.cli.demo_agents import AGENT_CAMPAIGN, CardRig, DemoAgents, card_config
from appliance.cli.output import add_json_flag
from appliance.clock import SystemClock
from appliance.config.models import (
    ApiSettings,
    CustomCompliance,
    DialboxConfig,
    EngineSettings,
    LineConfig,
)
from appliance.daemon.wiring import build_daemon
from appliance.domain import CampaignStatus, CampaignType, Outcome
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import Script
from appliance.errors import NotFound
from appliance.importing.importer import import_file
from appliance.store import Database, open_database
from appliance.store.campaigns import (
    contacts_by_state,
    create_campaign,
    get_campaign,
    update_campaign,
)

MODEMS = 4
UNATTENDED_SECONDS = 60.0
CAMPAIGNS = (
    ("sample", CampaignType.AUTOMATED, {"message": "reminder.amr", "weight": 3}),
    (
        "sample-sms",
        CampaignType.SMS,
        {"sms_text": "Reminder: your payment is due. Reply STOP to opt out."},
    ),
    (AGENT_CAMPAIGN, CampaignType.AGENT, {"pacing": "predictive"}),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="run the sample campaigns on emulated modems and a local database"
    )
    p.add_argument(
        "--state-dir", type=Path, default=Path("var/demo"), help="database and ptys (var/demo)"
    )
    p.add_argument("--headless", action="store_true", help="no live view; stop after --duration")
    p.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after this long"
    )
    p.add_argument("--port", type=int, default=8089, help="API and /metrics port (8089)")
    add_json_flag(p)
    p.set_defaults(func=run)


def sample_csv() -> Path:
    return Path(str(resources.files("appliance").joinpath("data/sample-campaign.csv")))


def demo_config(state: Path, port: int, bus: str) -> DialboxConfig:
    modems = state / "modems"
    card_lines, seats = card_config(bus)
    gsm = tuple(
        LineConfig(name=f"gsm{i}", device=str(modems / f"gsm{i}"),
                   campaigns=("sample", "sample-sms"))
        for i in range(MODEMS)
    )  # fmt: skip
    return DialboxConfig(
        database=state / "dialbox.db",
        region="US",
        timezone="America/New_York",
        # The callees are emulated, so the demo may call them at any hour; a real box keeps its
        # profile's calling hours (us: 08:00-21:00 callee local).
        compliance_profile="custom",
        compliance=CustomCompliance(calling_hours="daily 00:00-24:00"),
        lines=gsm + card_lines,
        seats=seats,
        api=ApiSettings(listen="127.0.0.1", port=port, socket=state / "api.sock"),
        engine=EngineSettings(tick=0.2, drain_timeout=5.0),
    )


def prepare(db: Database) -> dict[str, Any]:
    """Create the sample campaigns (once), import the sample into each, and start them."""
    clock, actor = SystemClock(), "demo"
    reports = {}
    for name, kind, settings in CAMPAIGNS:
        try:
            campaign = get_campaign(db, name)
        except NotFound:
            campaign = create_campaign(db, name, kind, "US", settings, clock.now(), actor)
        report = import_file(
            db,
            campaign,
            sample_csv(),
            region="US",
            mappings={},
            now=clock.now(),
            actor=actor,
            source="demo",
        )
        reports[name] = report.as_dict()
        if campaign.status != CampaignStatus.RUNNING:
            update_campaign(db, campaign, {"status": CampaignStatus.RUNNING}, clock.now(), actor)
    return reports


def summary(db: Database, since: int) -> dict[str, Any]:
    by_outcome: dict[str, int] = {}
    sms = {"sent": 0, "failed": 0, "received": 0}
    dialed = 0
    for channel, code, count in db.conn.execute(
        "SELECT channel, outcome, count(*) FROM attempts WHERE id > ? AND status != 'in_flight'"
        " GROUP BY channel, outcome",
        (since,),
    ):
        if channel == "sms":
            sms["sent" if code == 0 else "failed"] += int(count)
            continue
        dialed += int(count)
        label = Outcome(code).label if code is not None else "Dangling"
        by_outcome[label] = by_outcome.get(label, 0) + int(count)
    states = {name: contacts_by_state(db, get_campaign(db, name).id) for name, _, _ in CAMPAIGNS}
    return {"dialed": dialed, "by_outcome": by_outcome, "sms": sms, "contacts_by_state": states}


def agent_line(db: Database, since: int) -> str:
    """The demo agents at a glance: state and calls taken."""
    return ", ".join(
        f"{name} {state} ({calls} calls)"
        for name, state, calls in db.conn.execute(
            "SELECT g.name, g.state, (SELECT count(*) FROM attempts a WHERE a.agent = g.name"
            " AND a.id > ?) FROM agents g ORDER BY g.name",
            (since,),
        )
    )


def _free_port(preferred: int) -> int:
    """The preferred port if nothing listens there, else any free one."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    return preferred


def run(args: argparse.Namespace) -> int:
    if args.duration is None and (args.headless or not sys.stdin.isatty()):
        # Nobody can press Ctrl-C (CI, a script, `make demo` in a pipe): stop by ourselves.
        args.duration = UNATTENDED_SECONDS
        if not args.json:
            print(
                f"no terminal: the demo stops after {UNATTENDED_SECONDS:g} s (--duration to change)"
            )
    state: Path = args.state_dir.resolve()
    config = demo_config(state, _free_port(args.port), f"dialbox-demo-{os.getpid()}")
    db = open_database(config.database)
    reports = prepare(db)
    since = int(str(db.scalar("SELECT coalesce(max(id), 0) FROM attempts")))
    if not args.headless:
        for name, report in reports.items():
            print(
                f"{name}: imported {report['imported']}, rejected {report['rejected']}, "
                f"duplicates {report['duplicates']}"
            )
        print(
            f"database {config.database}; metrics http://127.0.0.1:{args.port}/metrics; Ctrl-C stops"
        )
        print(f"console: .venv/bin/dialbox console --socket {config.api.socket}")
    # The daemon's INFO lines go to its in-memory log (the console's Logs pane), not this screen.
    logging.getLogger("appliance").setLevel(logging.INFO)
    asyncio.run(_run(config, args, db, since))
    document = summary(db, since)
    if args.json:
        json.dump(document, sys.stdout)
        sys.stdout.write("\n")
    elif args.headless:
        print(json.dumps(document, indent=2))
    return 0


async def _run(config: DialboxConfig, args: argparse.Namespace, db: Database, since: int) -> None:
    farm = Farm(MODEMS, Path(config.lines[0].device).parent, "simcom", 7, Script(time_scale=0.1))
    await farm.start()
    card = CardRig(config)
    daemon = build_daemon(None, config)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(daemon.run())
            group.create_task(_progress(daemon, db, since, args))
            group.create_task(DemoAgents(daemon).run())
    finally:
        card.close()
        with contextlib.suppress(Exception):
            await farm.stop()


async def _progress(daemon: Any, db: Database, since: int, args: argparse.Namespace) -> None:
    start = time.monotonic()
    live = not args.headless and sys.stdout.isatty()
    while not daemon.stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(daemon.stopping.wait(), timeout=1.0)
        if args.duration is not None and time.monotonic() - start >= args.duration:
            daemon.request_stop(f"--duration {args.duration:g} s")
        if args.headless:
            continue
        s = summary(db, since)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["by_outcome"].items()))
        line = (
            f"[{time.monotonic() - start:5.0f}s] {daemon.status_fn()} | dialed {s['dialed']}: {outcomes}"
            f" | SMS sent {s['sms']['sent']} | agents: {agent_line(db, since)}"
        )
        print(
            ("\r" + line[:200].ljust(200)) if live else line, end="" if live else "\n", flush=True
        )
    if live:
        print()
