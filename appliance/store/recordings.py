"""Call recordings (SPEC O9, #24): the row of each recording the box made or tried to make.

The recorder (appliance/recording/) writes the file and then one row here: `complete` with the
file's size and SHA-256, or `failed` with the reason (the call went on without it). Retention and
the API mark rows `deleted` when they remove the file; the row stays, so an attempt keeps the
record that it was recorded, when, and why the audio is gone. Paths are relative to the
recordings directory (config `recordings.directory`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from appliance.store.campaigns import audit
from appliance.store.db import Database

Status = Literal["complete", "failed", "deleted"]
STATUSES: tuple[Status, ...] = ("complete", "failed", "deleted")
FORMATS = ("flac", "opus", "wav")
DIRECTIONS = ("outbound", "inbound")


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: int
    attempt_id: int
    campaign: str
    line: str
    number: str
    agent: str | None
    direction: str
    started_at: float
    duration: float  # seconds of audio
    path: str | None  # relative to the recordings directory
    format: str
    bytes: int
    sha256: str | None
    status: str
    error: str | None
    frames_lost: int
    deleted_at: float | None
    deleted_why: str | None

    def as_dict(self, when: Callable[[float | None], str | None]) -> dict[str, Any]:
        """The row as the API shows it (`when` writes an instant)."""
        doc = asdict(self)
        doc["started_at"] = when(self.started_at)
        doc["deleted_at"] = when(self.deleted_at)
        return doc


_COLUMNS = (
    "id, attempt_id, campaign, line, number, agent, direction, started_at, duration, path,"
    " format, bytes, sha256, status, error, frames_lost, deleted_at, deleted_why"
)


def _row(r: Any) -> RecordingRow:
    return RecordingRow(*r)


def insert_recording(
    db: Database,
    *,
    attempt_id: int,
    campaign: str,
    line: str,
    number: str,
    agent: str | None,
    direction: str,
    started_at: float,
    duration: float,
    path: str | None,
    format: str,
    bytes: int,
    sha256: str | None,
    status: Status,
    error: str | None = None,
    frames_lost: int = 0,
) -> int:
    """Store one recording's row; its id."""
    if status not in ("complete", "failed"):
        raise ValueError(f"a new recording is complete or failed, not {status!r}")
    with db.transaction():
        db.conn.execute(
            f"INSERT INTO recordings({_COLUMNS.removeprefix('id, ')})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (attempt_id, campaign, line, number, agent, direction, started_at, duration, path,
             format, bytes, sha256, status, error, frames_lost),
        )  # fmt: skip
        return int(db.conn.last_insert_rowid())


def get_recording(db: Database, recording_id: int) -> RecordingRow | None:
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM recordings WHERE id = ?", (recording_id,)
    ).fetchone()
    return None if row is None else _row(row)


def list_recordings(
    db: Database,
    *,
    campaign: str | None = None,
    agent: str | None = None,
    since: float | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[RecordingRow]:
    """Recordings in id order (the order they were made) after the cursor `after`."""
    where: list[str] = ["id > ?"]
    params: list[Any] = [after]
    for column, value in (("campaign", campaign), ("agent", agent), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("started_at >= ?")
        params.append(since)
    sql = f"SELECT {_COLUMNS} FROM recordings WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
    return [_row(r) for r in db.conn.execute(sql, (*params, limit))]


def kept(db: Database) -> list[RecordingRow]:
    """The recordings whose files are kept (status complete), oldest first: what retention weighs."""
    return [
        _row(r)
        for r in db.conn.execute(
            f"SELECT {_COLUMNS} FROM recordings WHERE status = 'complete' ORDER BY started_at, id"
        )
    ]


def kept_bytes(db: Database) -> int:
    return int(
        db.scalar("SELECT coalesce(sum(bytes), 0) FROM recordings WHERE status = 'complete'") or 0
    )


def mark_deleted(
    db: Database, recording_id: int, now: float, why: str, *, actor: str, note: str | None = None
) -> RecordingRow | None:
    """Mark a kept recording deleted (its file is gone), audited; None when it was not kept."""
    with db.transaction():
        found = get_recording(db, recording_id)
        if found is None or found.status != "complete":
            return None
        db.conn.execute(
            "UPDATE recordings SET status = 'deleted', deleted_at = ?, deleted_why = ?,"
            " error = coalesce(?, error) WHERE id = ?",
            (now, why, note, recording_id),
        )
        audit(db, actor, "recording.delete", str(recording_id),
              {"why": why, "attempt_id": found.attempt_id, "bytes": found.bytes,
               **({"note": note} if note else {})}, now)  # fmt: skip
    return get_recording(db, recording_id)


def counts_since(db: Database, since: float) -> dict[str, int]:
    """Recordings started since `since` by status, and those deleted since then by why
    (`deleted_budget`, `deleted_age`, …): what /status shows."""
    return {**started_since(db, since), **deleted_since(db, since)}


def started_since(db: Database, since: float) -> dict[str, int]:
    """Recordings started since `since` by status: a range of recordings_started per status
    (those of the period only, however many recordings are kept)."""
    return {
        status: int(
            db.scalar(
                "SELECT count(*) FROM recordings WHERE status = ? AND started_at >= ?",
                (status, since),
            )
            or 0
        )
        for status in STATUSES
    }


def deleted_since(db: Database, since: float) -> dict[str, int]:
    """Recordings deleted since `since` by why (`deleted_budget`, `deleted_age`, `deleted_api`):
    a scan, so /status reads it from the scanned figures (store/figures.py)."""
    out: dict[str, int] = {}
    for why, n in db.conn.execute(
        "SELECT deleted_why, count(*) FROM recordings WHERE deleted_at >= ? GROUP BY 1", (since,)
    ):
        key = str(why) if why in ("age", "budget") else "api"
        out[f"deleted_{key}"] = out.get(f"deleted_{key}", 0) + int(n)
    return out


def last_failure(db: Database) -> RecordingRow | None:
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM recordings WHERE status = 'failed' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else _row(row)
