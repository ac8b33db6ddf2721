"""`dialbox doctor [--repair] [--json]`: check the records' invariants (docs/operations.md); exit 1 on any violation."""

from __future__ import annotations

import argparse

from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit
from appliance.engine.doctor import REPAIRABLE, Doctor
from appliance.store.db import daemon_running


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check the records' invariants (stranded contacts, leases, outcomes, limits,"
        " integrity); exit 1 on any violation",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="mend what is safe to mend (stranded contacts through their strategy and limits,"
        " orphaned in-flight attempts, stale leases), then check again",
    )
    p.add_argument(
        "--daemon-stopped",
        action="store_true",
        help="the daemon is not running (default: it is judged running while it holds"
        " <database>.daemon.lock): every attempt in flight is a crash's leftover",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    stopped = bool(args.daemon_stopped) or not daemon_running(ctx.db.path)
    doctor = Doctor(ctx.config, ctx.db, ctx.clock)
    repaired: dict[str, int] = {}
    if args.repair:
        repaired = doctor.repair(daemon_stopped=stopped, kinds=REPAIRABLE)
    report = doctor.check(daemon_stopped=stopped)
    report.repaired = repaired
    emit(args, report.as_dict(), lambda _doc: report.text())
    return 0 if report.ok else 1
