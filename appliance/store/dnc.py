"""DNC and block lists (SPEC D7): global and per-campaign lists in E.164 with expiry, and dial-time lookups.

One table, `dnc`, holds three kinds of list: the global DNC list (campaign_id NULL, kind 'dnc'),
one list per campaign (campaign_id set, kind 'dnc'), and the permanent block list (campaign_id
NULL, kind 'block') that dispositions *wrong number* and *fax* feed. An entry whose `expires_at`
has passed no longer counts anywhere. The importer, the scheduler and the lease read the same
rows, so a change here takes effect at the next dial (C9).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from appliance.errors import DialboxError
from appliance.phones import InvalidPhone, normalize
from appliance.store.campaigns import audit
from appliance.store.db import Database

DNC = "dnc"
BLOCK = "block"
_CHUNK = 500  # numbers per IN (...) lookup, well below SQLite's variable limit
_AUDIT_NUMBERS = 20  # numbers named in one audit entry; the count is always there


@dataclass(frozen=True)
class DncEntry:
    e164: str
    campaign_id: int | None
    campaign: str | None  # the campaign's name; None for the global and block lists
    kind: str  # DNC or BLOCK
    reason: str | None
    source: str | None
    added_at: float
    expires_at: float | None

    @property
    def list_name(self) -> str:
        """'global', 'block', or 'campaign:<name>' — the words the CLI, API and audit use."""
        if self.kind == BLOCK:
            return "block"
        return "global" if self.campaign is None else f"campaign:{self.campaign}"

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "e164": self.e164,
            "list": self.list_name,
            "campaign": self.campaign,
            "kind": self.kind,
            "reason": self.reason,
            "source": self.source,
            "added_at": iso_utc(self.added_at),
            "expires_at": iso_utc(self.expires_at),
            "active": self.active(now),
        }


@dataclass(frozen=True)
class Rejected:
    line: int
    text: str
    reason: str


@dataclass
class Changes:
    """What an add or an import did: numbers newly listed, already listed, lines rejected."""

    added: int = 0
    already: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already_listed": self.already,
            "rejected": [
                {"line": r.line, "text": r.text, "reason": r.reason} for r in self.rejected
            ],
        }


def iso_utc(ts: float | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def list_label(campaign: str | None, kind: str = DNC) -> str:
    return "block" if kind == BLOCK else ("global" if campaign is None else f"campaign:{campaign}")


# -- dial-time lookups ------------------------------------------------------------------------

_APPLIES = "(campaign_id IS NULL OR campaign_id = ?) AND (expires_at IS NULL OR expires_at > ?)"


def blocked_numbers(
    db: Database, campaign_id: int | None, numbers: Iterable[str], now: float
) -> set[str]:
    """The E.164 numbers among `numbers` that must not be dialed for this campaign right now.

    Global list, the campaign's list and the block list, unexpired; `campaign_id=None` checks
    the global and block lists only. One indexed lookup (dnc_key) per 500 numbers."""
    wanted = list(dict.fromkeys(numbers))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        found.update(
            str(row[0])
            for row in db.conn.execute(
                f"SELECT DISTINCT e164 FROM dnc WHERE e164 IN ({marks}) AND {_APPLIES}",
                (*chunk, campaign_id, now),
            )
        )
    return found


def is_blocked(db: Database, campaign_id: int | None, e164: str, now: float) -> bool:
    """Whether one E.164 number must not be dialed for this campaign right now."""
    return (
        db.scalar(
            f"SELECT 1 FROM dnc WHERE e164 = ? AND {_APPLIES} LIMIT 1", (e164, campaign_id, now)
        )
        is not None
    )


# -- reading the lists ------------------------------------------------------------------------

_SELECT = (
    "SELECT d.e164, d.campaign_id, c.name, d.kind, d.reason, d.source, d.added_at, d.expires_at"
    " FROM dnc d LEFT JOIN campaigns c ON c.id = d.campaign_id"
)


def _entry(row: tuple[Any, ...]) -> DncEntry:
    return DncEntry(*row)


def listings(
    db: Database, e164: str, *, campaign_id: int | None = None, only_for_campaign: bool = False
) -> list[DncEntry]:
    """Every entry for one number, expired ones included (see `DncEntry.active`).

    With `only_for_campaign`, only the lists that apply to `campaign_id`: global, its own, block."""
    sql = f"{_SELECT} WHERE d.e164 = ?"
    params: list[Any] = [e164]
    if only_for_campaign:
        sql += " AND (d.campaign_id IS NULL OR d.campaign_id = ?)"
        params.append(campaign_id)
    sql += " ORDER BY d.kind DESC, c.name IS NOT NULL, c.name"
    return [_entry(row) for row in db.conn.execute(sql, params)]


def entries(
    db: Database,
    now: float,
    *,
    lists: str = "all",
    campaign_id: int | None = None,
    include_expired: bool = False,
) -> Iterator[DncEntry]:
    """Stream entries: `lists` is 'all', 'global', 'block' or 'campaign' (with `campaign_id`)."""
    where: list[str] = []
    params: list[Any] = []
    if lists == "global":
        where.append("d.campaign_id IS NULL AND d.kind = 'dnc'")
    elif lists == "block":
        where.append("d.kind = 'block'")
    elif lists == "campaign":
        where.append("d.campaign_id = ? AND d.kind = 'dnc'")
        params.append(campaign_id)
    elif lists != "all":
        raise ValueError(f"unknown list selection {lists!r}")
    if not include_expired:
        where.append("(d.expires_at IS NULL OR d.expires_at > ?)")
        params.append(now)
    sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY d.kind DESC, c.name IS NOT NULL, c.name, d.e164"
    for row in db.conn.execute(sql, params):
        yield _entry(row)


# -- changing the lists -----------------------------------------------------------------------


def _upsert(
    db: Database,
    e164: str,
    campaign_id: int | None,
    kind: str,
    reason: str | None,
    source: str | None,
    expires_at: float | None,
    now: float,
) -> bool:
    """Put one number on a list; True when it was not (actively) listed before.

    Re-adding never shortens a listing: the later expiry wins and "never" beats any date, so an
    import with --expires cannot silently unlist someone who asked to be left alone for good."""
    before = db.conn.execute(
        "SELECT expires_at FROM dnc WHERE e164 = ? AND ifnull(campaign_id, 0) = ? AND kind = ?",
        (e164, campaign_id or 0, kind),
    ).fetchone()
    db.conn.execute(
        "INSERT INTO dnc(e164, campaign_id, kind, reason, source, added_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (e164, ifnull(campaign_id, 0), kind) DO UPDATE SET"
        "  expires_at = CASE WHEN dnc.expires_at > ? AND excluded.expires_at IS NOT NULL"
        "   THEN max(dnc.expires_at, excluded.expires_at) ELSE excluded.expires_at END,"
        "  added_at = CASE WHEN dnc.expires_at <= ? THEN excluded.added_at ELSE dnc.added_at END,"
        "  reason = coalesce(excluded.reason, dnc.reason),"
        "  source = coalesce(excluded.source, dnc.source)"
        " WHERE dnc.expires_at IS NOT NULL",
        (e164, campaign_id, kind, reason, source, now, expires_at, now, now),
    )
    return before is None or (before[0] is not None and before[0] <= now)


def _add(
    db: Database,
    numbers: Iterable[str],
    campaign_id: int | None,
    kind: str,
    reason: str | None,
    source: str | None,
    expires_at: float | None,
    now: float,
) -> tuple[Changes, list[str]]:
    if kind == BLOCK and (campaign_id is not None or expires_at is not None):
        raise DialboxError("the block list is global and permanent: no campaign, no expiry")
    changes, named = Changes(), list[str]()
    for e164 in numbers:
        if _upsert(db, e164, campaign_id, kind, reason, source, expires_at, now):
            changes.added += 1
        else:
            changes.already += 1
        if len(named) < _AUDIT_NUMBERS:
            named.append(e164)
    return changes, named


def add_numbers(
    db: Database,
    numbers: Iterable[str],
    *,
    campaign_id: int | None,
    campaign: str | None,
    now: float,
    actor: str,
    kind: str = DNC,
    reason: str | None = None,
    source: str | None = None,
    expires_at: float | None = None,
    action: str = "dnc.add",
) -> Changes:
    """Put E.164 numbers on one list (global when `campaign_id` is None) in one audited transaction.

    `campaign` is the campaign's name (for the audit trail); `kind=BLOCK` is the block list."""
    with db.transaction():
        changes, named = _add(db, numbers, campaign_id, kind, reason, source, expires_at, now)
        audit(
            db,
            actor,
            action,
            list_label(campaign, kind),
            {
                "added": changes.added,
                "already_listed": changes.already,
                "numbers": named,
                "expires_at": iso_utc(expires_at),
                "reason": reason,
            },
            now,
        )
    return changes


def import_numbers(
    db: Database,
    stream: TextIO,
    *,
    region: str,
    campaign_id: int | None,
    campaign: str | None,
    now: float,
    actor: str,
    source: str,
    reason: str | None = None,
    expires_at: float | None = None,
) -> Changes:
    """Read a DNC file (see `read_numbers`) onto one list: bad lines are reported, good ones land.

    The good lines land in one transaction, so a file that cannot be read at all changes nothing;
    importing the same file twice adds nothing the second time."""
    rejected: list[Rejected] = []
    last_line = [0]

    def good() -> Iterator[str]:
        for item in read_numbers(stream, region):
            if isinstance(item, Rejected):
                rejected.append(item)
                last_line[0] = item.line
            else:
                last_line[0] = item[0]
                yield item[1]

    with db.transaction():
        try:
            changes, _ = _add(db, good(), campaign_id, DNC, reason, source, expires_at, now)
        except UnicodeDecodeError:
            raise DialboxError(
                f"{source}: not UTF-8 text; nothing was imported."
                " Save the file as UTF-8 and import it again"
            ) from None
        except csv.Error as exc:
            raise DialboxError(
                f"{source}, after line {last_line[0]}: cannot read the file as CSV ({exc});"
                " nothing was imported"
            ) from None
        changes.rejected = rejected
        detail = changes.as_dict()
        detail["rejected"] = len(rejected)
        audit(
            db,
            actor,
            "dnc.import",
            list_label(campaign),
            {**detail, "file": source, "expires_at": iso_utc(expires_at), "reason": reason},
            now,
        )
    return changes


def remove_numbers(
    db: Database,
    numbers: Iterable[str],
    *,
    campaign_id: int | None,
    campaign: str | None,
    now: float,
    actor: str,
    kind: str = DNC,
) -> tuple[list[str], list[str]]:
    """Take E.164 numbers off one list; returns (removed, not listed)."""
    removed: list[str] = []
    absent: list[str] = []
    with db.transaction():
        for e164 in dict.fromkeys(numbers):
            gone = db.conn.execute(
                "DELETE FROM dnc WHERE e164 = ? AND ifnull(campaign_id, 0) = ? AND kind = ?"
                " RETURNING id",
                (e164, campaign_id or 0, kind),
            ).fetchall()
            (removed if gone else absent).append(e164)
        if removed:
            audit(
                db,
                actor,
                "dnc.remove",
                list_label(campaign, kind),
                {"numbers": removed[:_AUDIT_NUMBERS], "removed": len(removed)},
                now,
            )
    return removed, absent


def block_number(
    db: Database, e164: str, reason: str, now: float, *, source: str | None = None
) -> bool:
    """Put a number on the permanent block list (wrong number, fax: D7); True if newly blocked.

    Safe inside the caller's transaction (it nests as a savepoint)."""
    changes = add_numbers(
        db,
        [e164],
        campaign_id=None,
        campaign=None,
        kind=BLOCK,
        reason=reason,
        source=source,
        now=now,
        actor="daemon",
        action="dnc.block",
    )
    return changes.added == 1


# -- files and expiry -------------------------------------------------------------------------


def read_numbers(stream: TextIO, region: str) -> Iterator[tuple[int, str] | Rejected]:
    """(line, E.164) for each number in a DNC file, or a `Rejected` line with its reason.

    One number per line or the first column of a CSV; blank lines and lines starting with '#'
    are skipped; a first line that is not a number but has letters in it is a header. Open the
    file with `errors="surrogateescape"` to have lines that are not UTF-8 rejected one by one."""
    reader = csv.reader(stream)
    first = True
    for record in reader:
        line = reader.line_num
        text = record[0].strip() if record else ""
        if not text or text.startswith("#"):
            continue
        if any("\udc80" <= ch <= "\udcff" for ch in text):  # undecodable bytes (surrogateescape)
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield Rejected(line, shown[:80], "not UTF-8 text")
            first = False
            continue
        try:
            yield line, normalize(text, region)
        except InvalidPhone as exc:
            if not (first and any(ch.isalpha() for ch in text)):  # else: a header line
                yield Rejected(line, text[:80], str(exc))
        first = False


_DAYS = re.compile(r"^(\d{1,5})d$")
# The instants a datetime can show in any zone: a day inside the years 1-9999.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LATEST = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def parse_expiry(text: str, timezone: str, now: float) -> float:
    """The expiry instant for `--expires`: a date (listed through that day in `timezone`), a
    date and time (in `timezone` unless it carries Z or an offset), or a number of days ('30d')."""
    value = text.strip()
    days = _DAYS.match(value)
    when: float
    try:
        if days:
            when = now + int(days.group(1)) * 86400
        elif len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1)
            when = datetime.combine(day, time(), ZoneInfo(timezone)).timestamp()
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(timezone))
            when = moment.timestamp()
    except OverflowError:  # a day after 9999-12-31
        when = _LATEST
    except ValueError:
        raise DialboxError(
            f"--expires {text!r}: expected a date (2026-12-31, listed through that day), a date and"
            f" time (2026-12-31T18:00, {timezone} time unless it ends in Z or +hh:mm) or a number"
            " of days (30d)"
        ) from None
    if not _EARLIEST < when < _LATEST:  # iso_utc and every datetime would fail on it
        raise DialboxError(f"--expires {text!r} is out of range: it must fall within 1-9999")
    if when <= now:
        raise DialboxError(f"--expires {text!r} is in the past ({iso_utc(when)})")
    return when
