"""One external list's table in the customer's database (SPEC D9, docs/external-lists.md).

SQLAlchemy Core over any of its dialects (PostgreSQL by psycopg; MySQL/MariaDB, SQL Server,
SQLite for trials). Every call is blocking: the sync runs it in a worker thread, never on the
event loop. The password comes from a file or the environment, never from the URL, and is never
logged: errors are the driver's message, not the URL."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appliance.config.models import ExternalList
from appliance.config.secrets import read_password
from appliance.errors import DialboxError

NOT_USED, NO_SUCCESS, MARKED, UNREACHABLE, SUCCESSFUL = 0, 2, 3, -1, 1
WRONG_NUMBER = 4  # LastState of a row whose number is not a phone number
COUNT_CAP = 10_000  # `why` counts matching rows up to this many (a bounded read)


class ExternalError(DialboxError):
    """The customer's database cannot be used now (down, refused, a wrong password)."""


class MappingError(ExternalError):
    """The config names a table or column the customer's database does not have."""


def describe(exc: BaseException) -> str:
    """The driver's own first line, without SQL, parameters or the URL."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Row:
    key: str
    state: int
    values: Mapping[str, Any]  # field -> value (phones, bps, timezone, attempts, redial_time)


class Source:
    def __init__(self, config: ExternalList) -> None:
        self.config = config
        self._engine: sa.Engine | None = None
        self._table: sa.Table | None = None
        self.mapping = config.mapping()

    # -- connection ---------------------------------------------------------------------
    def password(self) -> str | None:
        c = self.config
        return read_password(f"external list {c.name}", c.password_env, c.password_file,
                             ExternalError)  # fmt: skip

    def engine(self) -> sa.Engine:
        if self._engine is None:
            try:
                url = sa.make_url(self.config.url)
            except sa.exc.ArgumentError as exc:
                raise MappingError(f"external list {self.config.name}: bad url: {exc}") from None
            password = self.password()
            if password is not None:
                url = url.set(password=password)
            args: dict[str, Any] = {}
            if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
                args["connect_timeout"] = self.config.connect_timeout
            self._engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2,
                                            connect_args=args) if url.get_backend_name() != "sqlite" \
                else sa.create_engine(url, connect_args=args)  # fmt: skip
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self._table = None

    def table(self, conn: sa.Connection) -> sa.Table:
        """The table as the database has it; MappingError naming a missing column."""
        if self._table is not None:
            return self._table
        name, schema = self.config.table, None
        if "." in name:
            schema, name = name.split(".", 1)
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema)
        except sa.exc.NoSuchTableError:
            raise MappingError(
                f"external list {self.config.name}: the database has no table {self.config.table!r}"
            ) from None
        have = set(table.c.keys())
        wanted = [("key", self.config.key), *self.mapping.items()]
        missing = [(f, col) for f, col in wanted if col not in have]
        if missing:
            said = ", ".join(f"{col!r} (columns.{f})" for f, col in missing)
            raise MappingError(
                f"external list {self.config.name}: table {self.config.table!r} has no column {said};"
                f" it has: {', '.join(sorted(have))}. Fix external_lists[{self.config.name}].columns"
            )
        self._table = table
        return table

    def run(self, work: Callable[[sa.Connection, sa.Table], Any]) -> Any:
        """`work` in one transaction; ExternalError with the driver's words when it fails."""
        try:
            with self.engine().begin() as conn:
                return work(conn, self.table(conn))
        except MappingError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            self._table = None if isinstance(exc, sa.exc.NoSuchTableError) else self._table
            raise ExternalError(f"external list {self.config.name}: {describe(exc)}") from None

    # -- time -------------------------------------------------------------------------
    def _aware(self, t: sa.Table) -> bool:
        kind = t.c[self.mapping["redial_time"]].type
        return bool(getattr(kind, "timezone", False))

    def to_db(self, t: sa.Table, at: float) -> dt.datetime:
        when = dt.datetime.fromtimestamp(at, dt.UTC)
        if self._aware(t):
            return when
        return when.astimezone(zoneinfo.ZoneInfo(self.config.timezone)).replace(tzinfo=None)

    def from_db(self, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=zoneinfo.ZoneInfo(self.config.timezone))
            return float(value.timestamp())
        return None

    def _key(self, t: sa.Table, key: str) -> Any:
        try:
            kind = t.c[self.config.key].type.python_type
        except NotImplementedError:
            return key
        return int(key) if kind is int else key

    def _dialable(self, t: sa.Table, campaign: str, now: float, max_attempts: int) -> Any:
        m, c = self.mapping, t.c
        redial = c[m["redial_time"]]
        return sa.and_(
            c[m["campaign"]] == campaign,
            c[m["state"]].in_((NOT_USED, NO_SUCCESS)),
            sa.or_(redial.is_(None), redial <= self.to_db(t, now)),
            sa.func.coalesce(c[m["attempts"]], 0) < max_attempts,
        )

    # -- the round's work -------------------------------------------------------------
    def take(
        self,
        campaign: str,
        now: float,
        max_attempts: int,
        limit: int,
        judge: Callable[[Row], bool],
        before_commit: Callable[[list[Row]], None],
    ) -> list[Row]:
        """Mark up to `limit` dialable rows MarkedForDialing in one transaction: due redials
        first, oldest RedialTime first (the seed), then new rows by key. Rows `judge` refuses
        (no phone number) are closed as Unreachable/WrongNumber. `before_commit` mirrors the
        rows in the box's store before the mark is committed. Returns the rows marked."""

        def work(conn: sa.Connection, t: sa.Table) -> list[Row]:
            m, c = self.mapping, t.c
            fields = [f for f in m if f not in ("campaign", "state", "last_state")]
            keycol, statecol = c[self.config.key], c[m["state"]]
            redial = c[m["redial_time"]]
            query = (
                sa.select(keycol, statecol, *(c[m[f]].label(f) for f in fields))
                .where(self._dialable(t, campaign, now, max_attempts))
                .order_by(sa.case((redial.is_(None), 1), else_=0), redial, keycol)
                .limit(limit)
            )
            if conn.dialect.name != "sqlite":
                query = query.with_for_update(skip_locked=True)
            rows: list[Row] = []
            for r in conn.execute(query).mappings():
                values = dict(r)
                key = values.pop(self.config.key, None)
                if key is None:
                    key = r[keycol.name]
                state = values.pop(statecol.name, None)
                values["redial_time"] = self.from_db(values.get("redial_time"))
                rows.append(Row(str(key), int(state or 0), values))
            bad = [row for row in rows if not judge(row)]
            good = [row for row in rows if judge(row)]
            if bad:
                conn.execute(
                    sa.update(t)
                    .where(keycol.in_([self._key(t, r.key) for r in bad]))
                    .values({m["state"]: UNREACHABLE, m["last_state"]: WRONG_NUMBER})
                )
            if not good:
                return []
            before_commit(good)
            update = (
                sa.update(t)
                .where(keycol.in_([self._key(t, r.key) for r in good]))
                .where(statecol.in_((NOT_USED, NO_SUCCESS)))
                .values({m["state"]: MARKED})
            )
            if conn.dialect.update_returning:
                marked = {str(k) for (k,) in conn.execute(update.returning(keycol))}
                return [r for r in good if r.key in marked]
            conn.execute(update)
            return good

        rows: list[Row] = self.run(work)
        return rows

    def counts(self, campaign: str, now: float, max_attempts: int) -> tuple[int, int]:
        """(rows dialable now, rows marked MarkedForDialing), each counted up to COUNT_CAP."""

        def work(conn: sa.Connection, t: sa.Table) -> tuple[int, int]:
            m, c = self.mapping, t.c
            keycol = c[self.config.key]

            def bounded(where: Any) -> int:
                inner = sa.select(keycol).where(where).limit(COUNT_CAP).subquery()
                return int(
                    conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar() or 0
                )

            return (
                bounded(self._dialable(t, campaign, now, max_attempts)),
                bounded(sa.and_(c[m["campaign"]] == campaign, c[m["state"]] == MARKED)),
            )

        counted: tuple[int, int] = self.run(work)
        return counted

    def write(self, key: str, kind: str, payload: Mapping[str, Any]) -> None:
        """One owed write in its own transaction: an attempt's result (the four fields) or
        the release of a held row (back to its previous state, only while still marked)."""

        def work(conn: sa.Connection, t: sa.Table) -> None:
            m, c = self.mapping, t.c
            where = c[self.config.key] == self._key(t, key)
            if kind == "release":
                conn.execute(
                    sa.update(t)
                    .where(where, c[m["state"]] == MARKED)
                    .values({m["state"]: int(payload["state"])})
                )
                return
            values: dict[str, Any] = {
                m["state"]: int(payload["state"]),
                m["last_state"]: int(payload["last_state"]),
                m["attempts"]: int(payload["attempts"]),
            }
            if payload.get("redial_at") is not None:
                values[m["redial_time"]] = self.to_db(t, float(payload["redial_at"]))
            conn.execute(sa.update(t).where(where).values(values))

        self.run(work)


def phones_of(row: Row) -> Sequence[Any]:
    return [row.values.get(f"phone{i}") for i in range(1, 6)]
