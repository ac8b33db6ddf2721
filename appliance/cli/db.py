"""`dialbox db migrate|check|backup`: the store's schema and a copy of it, on SQLite or on
PostgreSQL (config `store.url`, #27)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from appliance.cli.context import load
from appliance.cli.output import add_json_flag, emit
from appliance.errors import DialboxError
from appliance.store.db import POSTGRESQL, Database, SchemaTooNew, migrations


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="the store's schema: migrate, check, back up")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    m = dsub.add_parser("migrate", help="apply the migrations this dialbox ships")
    add_json_flag(m)
    m.set_defaults(func=migrate)
    c = dsub.add_parser("check", help="exit 0 when the schema is this dialbox's, 1 when behind")
    add_json_flag(c)
    c.set_defaults(func=check)
    b = dsub.add_parser("backup", help="copy the store to a file (PostgreSQL: with pg_dump)")
    b.add_argument("out", type=Path, help="the file to write (refused if it exists)")
    add_json_flag(b)
    b.set_defaults(func=backup)


def _open(args: argparse.Namespace) -> Database:
    return Database(load(args).store_url())


def _latest(db: Database) -> int:
    ladder = migrations(db.engine)
    return ladder[-1][0] if ladder else 0


def migrate(args: argparse.Namespace) -> int:
    db = _open(args)
    try:
        before = db.version
        after = db.migrate()
        said = f" (was {before})" if before != after else " (up to date)"
        emit(args, {"store": db.where, "engine": db.engine, "from": before, "version": after},
             lambda _: f"{db.where}: schema version {after}{said}")  # fmt: skip
    finally:
        db.close()
    return 0


def check(args: argparse.Namespace) -> int:
    db = _open(args)
    try:
        current, latest = db.version, _latest(db)
    finally:
        db.close()
    doc = {"store": db.where, "engine": db.engine, "version": current, "latest": latest}
    if current > latest:
        raise SchemaTooNew(
            f"{db.where} has schema version {current}, newer than this dialbox's {latest}:"
            " install the dialbox that wrote it"
        )
    if current < latest:
        emit(args, {**doc, "ok": False},
             lambda _: f"{db.where}: schema version {current} of {latest};"
             " run `dialbox db migrate`")  # fmt: skip
        return 1
    emit(args, {**doc, "ok": True}, lambda _: f"{db.where}: schema version {current}, up to date")
    return 0


def backup(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        raise DialboxError(f"{out} exists; name a new file (a backup never overwrites one)")
    db = _open(args)
    try:
        if db.engine == POSTGRESQL:
            url = db.path
            where = db.where
        else:
            # SQLite: a consistent copy while others write (VACUUM INTO reads one snapshot)
            db.conn.execute("VACUUM INTO ?", (str(out),))
            emit(
                args, {"store": db.where, "file": str(out)}, lambda _: f"{db.where} copied to {out}"
            )
            return 0
    finally:
        db.close()
    _pg_dump(url, where, out)
    emit(
        args, {"store": where, "file": str(out)}, lambda _: f"{where} dumped to {out} (pg_dump -Fc)"
    )
    return 0


def _pg_dump(url: str, where: str, out: Path) -> None:
    """`pg_dump -Fc` of the database at `url` into `out`; the password by environment, never
    on the command line (where `ps` shows it)."""
    tool = shutil.which("pg_dump")
    if tool is None:
        raise DialboxError(
            "pg_dump is not installed: install PostgreSQL's client tools (Debian: apt install"
            f" postgresql-client) to back up {where}, or back it up on the database server"
        )
    parts = urlsplit(url)
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = netloc.replace(f":{parts.password}@", "@", 1)
    plain = urlunsplit(parts._replace(netloc=netloc))
    done = subprocess.run(
        [tool, "-Fc", "--no-owner", "-f", str(out), "-d", plain],
        env=env, capture_output=True, text=True, check=False, timeout=24 * 3600,
    )  # fmt: skip
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        raise DialboxError(f"pg_dump of {where} failed: {done.stderr.strip()[-500:]}")
