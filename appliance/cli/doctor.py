"""`dialbox doctor [--repair] [--json]`: check the records' invariants (docs/operations.md); exit 1 on any violation."""

from __future__ import annotations

import argparse
import contextlib
import socket

from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit
from appliance.config.models import DialboxConfig
from appliance.doctor import REPAIRABLE, Doctor


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
        help="the daemon is not running (default: it is judged stopped when its API answers"
        " neither on its socket nor on its port): every attempt in flight is a crash's leftover",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def daemon_answers(config: DialboxConfig) -> bool:
    """Whether something answers on the daemon's API socket or port (then it may have calls in
    flight, and an in-flight attempt proves nothing)."""
    if config.api.socket is not None and config.api.socket.exists():
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            s.connect(str(config.api.socket))
            return True
    host = "127.0.0.1" if config.api.listen in ("0.0.0.0", "::", "") else config.api.listen
    with contextlib.suppress(OSError):
        socket.create_connection((host, config.api.port), timeout=0.5).close()
        return True
    return False


def run(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    stopped = bool(args.daemon_stopped) or not daemon_answers(ctx.config)
    doctor = Doctor(ctx.config, ctx.db, ctx.clock)
    repaired: dict[str, int] = {}
    if args.repair:
        repaired = doctor.repair(daemon_stopped=stopped, kinds=REPAIRABLE)
    report = doctor.check(daemon_stopped=stopped)
    report.repaired = repaired
    emit(args, report.as_dict(), lambda _doc: report.text())
    return 0 if report.ok else 1
