"""`dialbox demo`: the main job on the embedded default — emulated modems, a local SQLite file, samples.

One process runs five emulated GSM modems on pseudo-terminals, an emulated line card (four FXO
lines and two FXS handsets on python-can's virtual bus) and the real daemon against them (the
same drivers, engine and store as on a box), with three campaigns from the shipped sample
(demo_campaigns.py): an automated voice campaign and an SMS campaign sharing four GSM lines, and
an agent campaign on the card's lines whose answered calls are bridged to two scripted agents
(demo_agents.py); and an inbound campaign answering on the fifth modem, which rings now and then
with a caller who uses its menu (demo_inbound.py).

On a terminal it shows one live panel (demoview.py) until Ctrl-C, which drains like SIGTERM
(calls in flight finish), prints the summary and exits 0. Without a terminal on stdout (a pipe,
CI) it prints a plain progress line every few seconds instead; with `--json` only one JSON
document at the end. The daemon's log goes to the state directory's demo.log, never the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from appliance.cli.demo_agents import CardRig, DemoAgents, card_config
from appliance.cli.demo_campaigns import NAMES, Prepared, prepare
from appliance.cli.demo_figures import Snapshot, outcomes, snapshot
from appliance.cli.demo_inbound import INBOUND_CAMPAIGN, INBOUND_LINE, DemoCallers, flows_file
from appliance.cli.demo_state import StateDir, claim, logs_to, shown
from appliance.cli.demoview import View, Where, intro, summary
from appliance.cli.output import add_json_flag
from appliance.config.models import (
    ApiSettings,
    CustomCompliance,
    DialboxConfig,
    EngineSettings,
    LineConfig,
)
from appliance.errors import DialboxError
from appliance.store import Database, open_database

log = logging.getLogger(__name__)

MODEMS = 4  # the modems that dial; one more answers for the inbound campaign
# The messages the demo's campaigns and flows play, as files on the modules' flash (a real
# box puts them there, or the prompt library uploads them: docs/prompts.md).
STORED_MESSAGES = ("reminder.amr", "info-no-agent", "welcome", "all-agents-busy",
                   "press-1-to-confirm",
                   *(f"queue-position-{n}" for n in range(1, 10)), "queue-position-many")  # fmt: skip
TIME_SCALE = 0.1  # the emulated modems' script: every delay a tenth
UNATTENDED_SECONDS = 60.0
REFRESH = 1.0  # seconds between two draws of the live panel
READY_TIMEOUT = 30.0  # seconds the API may take to listen
IMPORT_KEYS = ("imported", "rejected", "duplicates", "dnc")


class DemoFailed(DialboxError):
    exit_code = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the sample campaigns on emulated modems and a local database",
        description="Run the sample campaigns on emulated lines with the real daemon. A second "
        "run re-uses --state-dir: the last run's campaigns are kept as <name>-previous and the "
        "sample is dialed afresh; --fresh removes the directory first.",
    )
    p.add_argument(
        "--state-dir", type=Path, default=Path("var/demo"),
        help="database, log and ptys (var/demo)",
    )  # fmt: skip
    p.add_argument("--fresh", action="store_true", help="remove --state-dir first: start over")
    p.add_argument("--headless", action="store_true", help="no live panel; stop after --duration")
    p.add_argument(
        "--duration", type=_seconds, default=None, metavar="SECONDS", help="stop after this long"
    )
    p.add_argument(
        "--port", type=_port, default=8089,
        help="API and /metrics port (8089; another free one if it is taken)",
    )  # fmt: skip
    add_json_flag(p)
    p.set_defaults(func=run)


def demo_config(state: Path, port: int, bus: str) -> DialboxConfig:
    modems = state / "modems"
    card_lines, seats = card_config(bus)
    gsm = (
        *(LineConfig(name=f"gsm{i}", device=str(modems / f"gsm{i}"),
                     campaigns=("sample", "sample-sms"))
          for i in range(MODEMS)),
        # the inbound campaign's: pinned to it, no outbound campaign dials on it
        LineConfig(name=INBOUND_LINE, device=str(modems / INBOUND_LINE),
                   campaigns=(INBOUND_CAMPAIGN,)),
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
        flows=(str(flows_file()),),
    )


def listen_port(preferred: int) -> int:
    """`preferred` if it can be bound now (as the API binds it: SO_REUSEADDR), else a port the
    kernel finds free; the demo prints the one the API then got (0: any free port)."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise DialboxError("no free TCP port on 127.0.0.1 for the demo's API")


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0: any free one)")
    return port


def _command() -> str:
    """How to run dialbox from here, as the user started it (`.venv/bin/dialbox` by make)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "dialbox":
        return shown(argv0.absolute())
    return "dialbox"


def _mode(args: argparse.Namespace, console: Console) -> str:
    """json: one document at the end; live: the panel (a terminal that can move its cursor);
    plain: progress lines (a pipe, a log, TERM=dumb, --headless)."""
    if args.json:
        return "json"
    if args.headless or not console.is_terminal or console.is_dumb_terminal:
        return "plain"
    return "live"


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    view = View(_mode(args, console), console, args.duration)
    if args.duration is None and (args.headless or not sys.stdin.isatty()):
        # Nobody can press Ctrl-C (CI, a script, `make demo` in a pipe): stop by ourselves.
        args.duration = view.duration = UNATTENDED_SECONDS
        view.say(
            f"no terminal: the demo stops after {UNATTENDED_SECONDS:g} s (--duration to change)"
        )
    with claim(args.state_dir, fresh=args.fresh) as state, logs_to(state.log, args.verbose):
        db = _open(state)
        try:
            return _demo(args, view, state, db)
        finally:
            db.close()


def _open(state: StateDir) -> Database:
    try:
        return open_database(state.database)
    except DialboxError:
        raise
    except Exception as exc:  # apsw: not a database, corrupt, unreadable
        log.exception("cannot open %s", state.database)
        raise DialboxError(
            f"cannot open the demo's database {shown(state.database)} ({exc}); --fresh starts over"
        ) from None


def _demo(args: argparse.Namespace, view: View, state: StateDir, db: Database) -> int:
    prepared = prepare(db, time.time())
    view.say(_reuse_line(state, prepared, args.fresh))
    since = int(str(db.scalar("SELECT coalesce(max(id), 0) FROM attempts")))
    port = listen_port(args.port)
    config = demo_config(state.path, port, f"dialbox-demo-{os.getpid()}")
    assert config.api.socket is not None
    where = Where(state.path, state.database, state.log, config.api.socket, None,
                  wanted=args.port if args.port and port != args.port else None,
                  command=_command())  # fmt: skip
    demo = DemoRun(config, db, since, view, args.duration, where, prepared)
    failure: BaseException | None = None
    try:
        asyncio.run(demo.run())
    except Exception as exc:  # the daemon or an emulator failed: say so, still sum up
        log.exception("the demo stopped on an error")
        failure, demo.why = exc, f"failed: {exc}"
    finally:
        view.stop()
    final = snapshot(db, NAMES, since, elapsed=demo.elapsed(), phase="stopped", lines={},
                     inbound=INBOUND_CAMPAIGN)  # fmt: skip
    if view.mode == "json":
        json.dump(_document(outcomes(db, since), final, demo.where, prepared), sys.stdout)
        sys.stdout.write("\n")
    else:
        view.say(summary(final, demo.where, demo.why))
    if failure is not None:
        raise DemoFailed(f"the demo stopped on an error: {failure}; see {shown(state.log)}")
    return 0


def _reuse_line(state: StateDir, prepared: Prepared, fresh: bool) -> str:
    where = shown(state.path)
    if not state.fresh:
        kept = ", ".join(prepared.archived) or "none"
        return (
            f"re-using {where} ({prepared.previous_contacts} contacts from the last run; "
            f"--fresh to start over). The last run's campaigns are kept as: {kept}; "
            "the sample is dialed afresh."
        )
    return f"{where}: {'removed and created afresh (--fresh)' if fresh else 'created'}"


def _document(
    counts: dict[str, Any], final: Snapshot, where: Where, prepared: Prepared
) -> dict[str, Any]:
    """The `--json` document: this run's outcomes, contacts by state and per campaign, line and
    agent figures, the imports, and where the data is."""
    return {
        **counts,
        "contacts_by_state": {c.name: c.states for c in final.campaigns},
        **final.as_dict(),
        "imports": {
            name: {key: report[key] for key in IMPORT_KEYS}
            for name, report in prepared.imports.items()
        },
        "previous_contacts": prepared.previous_contacts,
        "state_dir": str(where.state_dir),
        "log": str(where.log),
        "api_port": where.port,
    }


class DemoRun:
    """The emulators, the daemon and the agents for one run, and the screen while they run."""

    def __init__(
        self,
        config: DialboxConfig,
        db: Database,
        since: int,
        view: View,
        duration: float | None,
        where: Where,
        prepared: Prepared,
    ) -> None:
        self.config, self.db, self.since, self.view = config, db, since, view
        self.duration, self.where, self.prepared = duration, where, prepared
        self.why = "stopped"
        # The clock (and --duration) starts when the daemon is ready to dial, so a slow start on a
        # busy machine does not eat the run; a daemon never ready starts it after READY_TIMEOUT.
        self._created = self._start = time.monotonic()
        self._ready = False
        self._signal: str | None = None

    def elapsed(self) -> float:
        """Seconds since the daemon was ready to dial (0 before)."""
        return time.monotonic() - self._start if self._ready else 0.0

    async def run(self) -> None:
        from appliance.daemon.wiring import build_daemon
        from appliance.drivers.emulators.gsm.farm import Farm
        from appliance.drivers.emulators.gsm.script import Script

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # until the daemon runs: stop it at once
            loop.add_signal_handler(sig, self._signalled, None, sig.name)
        farm = Farm(MODEMS + 1, Path(self.config.lines[0].device).parent, "simcom", 7,
                    Script(time_scale=TIME_SCALE))  # fmt: skip
        card: CardRig | None = None
        try:
            await farm.start()
            for modem in farm.modems:  # provisioned modules: the demo's messages on their flash
                modem.files.provision(STORED_MESSAGES)
            card = CardRig(self.config)
            daemon = build_daemon(None, self.config)
            async with asyncio.TaskGroup() as group:
                task = group.create_task(daemon.run(), name="daemon")
                group.create_task(DemoAgents(daemon).run(), name="agents")
                group.create_task(DemoCallers(daemon, farm, TIME_SCALE).run(), name="callers")
                group.create_task(self._follow(daemon, task), name="view")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if card is not None:
                card.close()
            with contextlib.suppress(Exception):
                await farm.stop()

    def _signalled(self, daemon: Any, name: str) -> None:
        self._signal = name
        if daemon is not None:
            daemon.request_stop(name)

    async def _follow(self, daemon: Any, task: asyncio.Task[int]) -> None:
        loop = asyncio.get_running_loop()
        # The daemon took SIGINT and SIGTERM when it started; this keeps its drain and learns why.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signalled, daemon, sig.name)
        if self._signal is not None:  # Ctrl-C before the daemon ran
            daemon.request_stop(self._signal)
        await self._listening(daemon, task)
        self.view.say(intro(self.where, self.prepared.imports))
        self.view.start()
        while not task.done():
            self._tick(daemon)
            self.view.show(self._snapshot(daemon), self.where)
            await asyncio.wait({task}, timeout=REFRESH)
        self.why = (
            f"stopped after --duration {self.duration:g} s"
            if self._signal is None and self.duration is not None
            else f"stopped by {'Ctrl-C' if self._signal == 'SIGINT' else self._signal or 'the daemon'}"
        )

    async def _listening(self, daemon: Any, task: asyncio.Task[int]) -> None:
        """Wait until the API listens, and take the port it got."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not task.done() and time.monotonic() < deadline:
            http = next((c for c in daemon.components if c.name == "http"), None)
            if http is not None and http.ready.is_set():
                self.where = dataclasses.replace(self.where, port=http.server.port)
                return
            await asyncio.wait({task}, timeout=0.05)

    def _tick(self, daemon: Any) -> None:
        """Start the clock once the daemon is ready; stop the daemon once --duration is up."""
        if not self._ready:
            now = time.monotonic()
            ready = bool(daemon.components) and all(c.ready.is_set() for c in daemon.components)
            if ready or now - self._created >= READY_TIMEOUT:
                self._ready, self._start = True, now
            return
        if self.duration is not None and self.elapsed() >= self.duration:
            daemon.request_stop(f"--duration {self.duration:g} s")

    def _snapshot(self, daemon: Any) -> Snapshot:
        from appliance.api.lines import describe

        engine = daemon.engine
        now = daemon.clock.now()
        lines = {s.name: (s.config.kind, str(describe(s, now)["state"]))
                 for s in (engine.pool.slots if engine is not None else ())}  # fmt: skip
        phase = (
            "draining" if daemon.stopping.is_set() else ("running" if self._ready else "starting")
        )
        inbound = getattr(engine, "inbound", None)
        waiting = inbound.snapshot().queue_length(INBOUND_CAMPAIGN) if inbound else None
        return snapshot(self.db, NAMES, self.since, elapsed=self.elapsed(), phase=phase,
                        lines=lines, inbound=INBOUND_CAMPAIGN, waiting=waiting)  # fmt: skip
