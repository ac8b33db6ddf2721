"""Several boxes (daemons) on one store (#27): identity, heartbeat, drain, and the sweep of a dead box.

Each daemon registers itself as a box (config `box.id`) and heartbeats every
`box.heartbeat_seconds`: its row's `heartbeat_at`, its lines, and the lease expiry of each of its
attempts in flight are renewed. A box whose heartbeat is older than `box.sweep_after_seconds`
is dead: any other box sweeps its attempts in flight, which become *Dangling* through the very
code of the dangling sweep (store/attempts.py `sweep_dangling`, with the caller's `decide`: the
strategy and the limits, requeued or closed as `engine.dangling_action` says). A box that comes
back after that finds its row marked `swept`; the attempts it still had are no longer its own
and their completions are refused (fencing: store/attempts.py `complete` checks the attempt's
box and the contact's lease generation).

A draining box leases nothing new (its calls in flight finish): `drain`, `resume`. The flag is
kept in the store, so a drained box stays drained across a restart until resumed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.errors import DialboxError
from appliance.store.attempts import DanglingAttempt, DecideDangling, sweep_dangling
from appliance.store.db import Database

log = logging.getLogger(__name__)

STATES = ("up", "stopped", "swept")


class BoxInUse(DialboxError):
    """Another daemon, alive, registered this box id: two boxes with one id would settle each
    other's attempts as their own."""


def this_instance() -> str:
    """This daemon process as `host:pid` (the box row says which process registered it)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(db: Database, box_id: str, now: float, sweep_after: float, instance: str) -> None:
    """Before a box settles its own attempts left in flight at its start: BoxInUse when another
    daemon that is alive — heartbeating within `sweep_after`, on another host or a live process
    on this one — registered the same id. A restart after a crash (the old process gone) or
    after the row went silent is its own."""
    row = db.conn.execute(
        "SELECT state, heartbeat_at, instance FROM boxes WHERE id = ?", (box_id,)
    ).fetchone()
    if row is None:
        return
    state, beat, other = row
    if state != "up" or other is None or other == instance:
        return
    age = now - float(str(beat))
    if age > sweep_after:
        return
    host, _, pid = str(other).rpartition(":")
    if host == instance.rpartition(":")[0] and (not pid.isdigit() or not _alive(int(pid))):
        return
    raise BoxInUse(
        f"box id {box_id!r} is in use by {other} on this store (its heartbeat {age:.0f} s ago):"
        " give each box its own box.id in the config (docs/operations.md, 'Several boxes')"
    )


@dataclass(frozen=True)
class BoxRow:
    id: str
    version: str
    lines: list[dict[str, Any]]
    started_at: float
    heartbeat_at: float
    state: str  # up, stopped (a clean stop), swept (found dead and its attempts swept)
    draining: bool
    swept_at: float | None = None
    swept_by: str | None = None

    def age(self, now: float) -> float:
        """Seconds since its last heartbeat."""
        return max(0.0, now - self.heartbeat_at)

    def alive(self, now: float, sweep_after: float) -> bool:
        return self.state == "up" and self.age(now) <= sweep_after

    def document(self, now: float, sweep_after: float) -> dict[str, Any]:
        """What the API, the console and `dialbox boxes` show of the box."""
        return {
            "id": self.id,
            "version": self.version,
            "state": self.state if self.alive(now, sweep_after) or self.state != "up" else "silent",
            "draining": self.draining,
            "lines": self.lines,
            "lines_up": sum(1 for line in self.lines if line.get("up")),
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_age_seconds": round(self.age(now), 3),
            "swept_at": self.swept_at,
            "swept_by": self.swept_by,
        }


_COLUMNS = "id, version, lines, started_at, heartbeat_at, state, draining, swept_at, swept_by"


def _row(r: Sequence[Any]) -> BoxRow:
    lines = json.loads(str(r[2])) if r[2] else []
    return BoxRow(
        str(r[0]), str(r[1]), lines if isinstance(lines, list) else [], float(r[3]), float(r[4]),
        str(r[5]), bool(r[6]), None if r[7] is None else float(r[7]),
        None if r[8] is None else str(r[8]),
    )  # fmt: skip


def get_box(db: Database, box_id: str) -> BoxRow | None:
    r = db.conn.execute(f"SELECT {_COLUMNS} FROM boxes WHERE id = ?", (box_id,)).fetchone()
    return None if r is None else _row(r)


def list_boxes(db: Database) -> list[BoxRow]:
    return [_row(r) for r in db.conn.execute(f"SELECT {_COLUMNS} FROM boxes ORDER BY id")]


def register(
    db: Database,
    box_id: str,
    version: str,
    now: float,
    lines: Sequence[dict[str, Any]] = (),
    instance: str | None = None,
) -> BoxRow:
    """This box starts: its row made or taken over (a restart), state up, heartbeat now. The
    draining flag is kept (a drained box stays drained until resumed). `instance`: the
    process (`this_instance()`) for `claim`."""
    with db.transaction():
        before = get_box(db, box_id)
        db.conn.execute(
            "INSERT INTO boxes(id, version, lines, started_at, heartbeat_at, state, instance)"
            " VALUES (?, ?, ?, ?, ?, 'up', ?) ON CONFLICT(id) DO UPDATE SET"
            " version = excluded.version, lines = excluded.lines,"
            " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
            " state = 'up', instance = excluded.instance",
            (box_id, version, json.dumps(list(lines)), now, now, instance),
        )
        row = get_box(db, box_id)
    assert row is not None
    if before is not None and before.state == "swept":
        log.warning(
            "box %s was found dead and its attempts in flight were swept by box %s; starting again",
            box_id, before.swept_by,
        )  # fmt: skip
    if row.draining:
        log.warning("box %s is draining: it leases nothing until resumed (POST /boxes/%s/resume)",
                    box_id, box_id)  # fmt: skip
    return row


def heartbeat(
    db: Database,
    box_id: str,
    now: float,
    lease_for: float,
    lines: Sequence[dict[str, Any]] | None = None,
) -> BoxRow:
    """The box is alive: its heartbeat and lines written, the lease expiry of its attempts in
    flight moved to `now + lease_for`. A box the others swept meanwhile is told so in the log
    and is up again; the attempts they swept stay theirs (fencing). Returns the row as it is
    now (its `draining` flag: someone may have drained it from another box)."""
    with db.transaction():
        before = get_box(db, box_id)
        if before is None:  # deleted by hand, or a store made after the start: made again
            db.conn.execute(
                "INSERT INTO boxes(id, version, lines, started_at, heartbeat_at, state)"
                " VALUES (?, '', '[]', ?, ?, 'up')",
                (box_id, now, now),
            )
        db.conn.execute(
            "UPDATE boxes SET heartbeat_at = ?, state = 'up', lines = coalesce(?, lines)"
            " WHERE id = ?",
            (now, None if lines is None else json.dumps(list(lines)), box_id),
        )
        db.conn.execute(
            "UPDATE attempts SET lease_expires = ? WHERE box = ? AND status = 'in_flight'",
            (now + lease_for, box_id),
        )
        row = get_box(db, box_id)
    assert row is not None
    if before is not None and before.state == "swept":
        log.error(
            "box %s was silent for longer than box.sweep_after_seconds and box %s swept its"
            " attempts in flight at %.0f: their outcomes will not be recorded by this box"
            " (fenced); check the store's reachability and this box's load",
            box_id, before.swept_by, before.swept_at or 0.0,
        )  # fmt: skip
    return row


def stopped(db: Database, box_id: str, now: float) -> None:
    """A clean stop: the box's calls are drained and recorded; nobody need sweep it."""
    with db.transaction():
        db.conn.execute(
            "UPDATE boxes SET state = 'stopped', heartbeat_at = ? WHERE id = ? AND state = 'up'",
            (now, box_id),
        )


def set_draining(db: Database, box_id: str, draining: bool) -> BoxRow:
    """Drain the box (no new leases; its calls in flight finish) or resume it. LookupError if
    no box has that id."""
    with db.transaction():
        changed = db.conn.execute(
            "UPDATE boxes SET draining = ? WHERE id = ? RETURNING id", (int(draining), box_id)
        ).fetchall()
        if not changed:
            raise LookupError(f"no box {box_id!r}: GET /boxes lists the boxes on this store")
        row = get_box(db, box_id)
    assert row is not None
    return row


def others_alive(db: Database, box_id: str, now: float, sweep_after: float) -> bool:
    """Whether another box heartbeats on this store (the lease then re-checks the rules)."""
    found = db.scalar(
        "SELECT count(*) FROM boxes WHERE id != ? AND state = 'up' AND heartbeat_at >= ?",
        (box_id, now - sweep_after),
    )
    return int(found or 0) != 0


@dataclass(frozen=True)
class SweptBox:
    box: str
    heartbeat_at: float
    attempts: list[DanglingAttempt]


def sweep_dead_boxes(
    db: Database,
    now: float,
    sweep_after: float,
    *,
    decide: DecideDangling | None = None,
    by: str | None = None,
) -> list[SweptBox]:
    """The attempts in flight of every box (other than `by`) whose heartbeat is older than
    `sweep_after` become Dangling through the dangling sweep (`decide`: requeued by the strategy
    and the limits, or None: closed), as if that box had restarted; the box is marked `swept`.
    Only attempts whose lease expired are swept: a box that came back meanwhile keeps the ones
    it leased since. Two boxes sweeping at once settle each attempt once."""
    cutoff = now - sweep_after
    dead = db.conn.execute(
        "SELECT id, heartbeat_at FROM boxes b WHERE heartbeat_at < ? AND (? IS NULL OR id != ?)"
        " AND (state = 'up' OR EXISTS (SELECT 1 FROM attempts a"
        "      WHERE a.box = b.id AND a.status = 'in_flight'))"
        " ORDER BY id",
        (cutoff, by, by),
    ).fetchall()
    out: list[SweptBox] = []
    for box_id, beat_at in dead:
        beat = float(str(beat_at))
        with db.transaction():
            # it may have heartbeated since the read above: then it is alive and left alone
            marked = db.conn.execute(
                "UPDATE boxes SET state = CASE WHEN state = 'stopped' THEN 'stopped' ELSE 'swept' END,"
                " swept_at = ?, swept_by = ? WHERE id = ? AND heartbeat_at < ? RETURNING id",
                (now, by, box_id, cutoff),
            ).fetchall()
        if not marked:
            continue
        swept = sweep_dangling(db, now, decide=decide, box=str(box_id), expired_before=now)
        out.append(SweptBox(str(box_id), beat, swept))
        log.warning(
            "box %s silent for %.0f s (box.sweep_after_seconds %.0f): %d of its attempts in"
            " flight swept as dangling%s",
            box_id, now - beat, sweep_after, len(swept),
            f" by box {by}" if by else "",
        )  # fmt: skip
    return out
