"""PostgreSQL behind the subset of apsw's Connection/Cursor API the store uses (psycopg 3).

The store's modules write `db.conn.execute(sql, params)` with SQLite's `?`, `?NNN` and `:name`
marks, `with db.conn:` for a transaction (a savepoint when nested), `changes()`,
`total_changes()`, `last_insert_rowid()` and `in_transaction`. `PgConnection` offers the same
over one psycopg connection in autocommit mode (transactions are explicit, as with apsw), so the
modules keep one text for both engines; what must differ per engine is in store/dialect.py.

Values are bound on the client (psycopg's ClientCursor): like SQLite, a NULL or a number
compared in any expression needs no declared type. `numeric` results (PostgreSQL's sum of
integers) come back as int or float, as SQLite's would."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from appliance.errors import DialboxError

Params = Sequence[Any] | Mapping[str, Any] | None

_TOKEN = re.compile(
    r"""('(?:[^']|'')*')"""  # a string literal
    r"""|("(?:[^"]|"")*")"""  # a quoted identifier
    r"|(--[^\n]*)"  # a comment
    r"|(\$\$.*?\$\$)"  # a dollar-quoted body (PL/pgSQL)
    r"|(::)"  # a cast, not a parameter
    r"|(\?\d*)"  # ? or ?NNN
    r"|(:[A-Za-z_][A-Za-z0-9_]*)",  # :name
    re.S,
)


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[int | str, ...]]:
    """SQLite's marks as psycopg's: the new text, and for each mark in order the parameter it
    takes (an index into a sequence, or a name)."""
    order: list[int | str] = []
    out: list[str] = []
    pos = 0
    plain = 0  # the index the next bare `?` takes (SQLite: one past the largest so far)
    for m in _TOKEN.finditer(sql):
        out.append(sql[pos : m.start()].replace("%", "%%"))
        pos = m.end()
        text = m.group(0)
        if m.group(6):
            if len(text) > 1:
                index = int(text[1:]) - 1
                plain = max(plain, index + 1)
            else:
                index, plain = plain, plain + 1
            order.append(index)
            out.append("%s")
        elif m.group(7):
            order.append(text[1:])
            out.append("%s")
        else:
            out.append(text.replace("%", "%%"))
    out.append(sql[pos:].replace("%", "%%"))
    return "".join(out), tuple(order)


def bind(sql: str, params: Params) -> tuple[str, list[Any] | None]:
    if params is None or (not params and "?" not in sql and ":" not in sql):
        return sql, None
    text, order = translate(sql)
    if isinstance(params, Mapping):
        return text, [params[str(k)] for k in order]
    values = list(params)
    return text, [values[int(k)] if isinstance(k, int) else _missing(k) for k in order]


def _missing(name: str) -> Any:
    raise DialboxError(f"SQL parameter :{name} given by position")


class _Numeric(Loader):
    """numeric -> int when whole, else float (what SQLite gives for sum() and avg())."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class PgCursor:
    """The results of one statement: iterable, fetchone, fetchall (empty when none)."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self._cur.description is None:
            return iter(())
        return iter(self._cur)

    def fetchone(self) -> tuple[Any, ...] | None:
        return None if self._cur.description is None else self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [] if self._cur.description is None else self._cur.fetchall()

    @property
    def description(self) -> Any:
        return self._cur.description

    def close(self) -> None:
        self._cur.close()


class PgConnection:
    """One psycopg connection with apsw's manners (see the module's doc)."""

    def __init__(self, url: str) -> None:
        try:
            self.raw = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
        except psycopg.OperationalError as exc:
            raise DialboxError(f"cannot connect to PostgreSQL: {str(exc).strip()}") from None
        self.raw.adapters.register_loader("numeric", _Numeric)
        self._tx: list[AbstractContextManager[Any]] = []
        self.exec_trace: Callable[[Any, str, Any], Any] | None = None
        self._changes = 0
        self._total = 0

    def execute(self, sql: str, params: Params = None) -> PgCursor:
        if self.exec_trace is not None:  # apsw's hook: called with each statement before it runs
            self.exec_trace(None, sql, params)
        text, values = bind(sql, params)
        cur = self.raw.cursor()
        cur.execute(text, values)
        self._count(cur)
        return PgCursor(cur)

    def executemany(self, sql: str, rows: Iterable[Params]) -> PgCursor:
        batch = list(rows)
        cur = self.raw.cursor()
        if batch:
            text, _ = bind(sql, batch[0])
            cur.executemany(text, [bind(sql, r)[1] or [] for r in batch])
            self._count(cur)
        return PgCursor(cur)

    def _count(self, cur: psycopg.Cursor[Any]) -> None:
        self._changes = max(cur.rowcount, 0)
        if cur.description is None or (cur.statusmessage or "").split(" ")[0] in (
            "INSERT", "UPDATE", "DELETE", "MERGE",
        ):  # fmt: skip
            self._total += self._changes

    def changes(self) -> int:
        return self._changes

    def total_changes(self) -> int:
        return self._total

    def last_insert_rowid(self) -> int:
        """The id the last INSERT into a table with an identity column took (this session's
        lastval()): an id the INSERT gave itself is not it, unlike SQLite's; such callers
        know the id, or take it with RETURNING."""
        row = self.raw.execute("SELECT lastval()").fetchone()
        return int(row[0]) if row else 0

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def __enter__(self) -> PgConnection:
        tx = self.raw.transaction()
        tx.__enter__()
        self._tx.append(tx)
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._tx.pop().__exit__(*exc)

    def close(self) -> None:
        self.raw.close()
