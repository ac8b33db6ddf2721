"""`dialbox db migrate|check|backup` on SQLite (`database:`) and on PostgreSQL (`store.url`,
its password from a file), and the config's `store` section (#27)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.cli import main
from appliance.config.models import DialboxConfig
from appliance.store.db import Database, migrations
from tests.pgserver import Postgres

PASSWORD = "b0x-s3cret"
_names = itertools.count(1)


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def pg_config(pg_server: Postgres, tmp_path: Path) -> tuple[Path, str]:
    """A config naming a new, empty PostgreSQL database owned by a role with a password."""
    name = f"dialbox_cli{next(_names)}"
    pg_server.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'box') THEN"
        f" CREATE ROLE box LOGIN PASSWORD '{PASSWORD}'; END IF; END $$"
    )
    pg_server.psql(f"CREATE DATABASE {name} OWNER box")
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    path = tmp_path / "dialbox.yaml"
    path.write_text(
        f'region: US\nstore:\n  url: "postgresql://box@/{name}?host={pg_server.sock}"\n'
        "  password_file: pw\n"
    )
    return path, name


def test_postgresql_store_is_migrated_checked_and_backed_up(
    pg_config: tuple[Path, str], pg_server: Postgres, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    config, name = pg_config
    latest = migrations("postgresql")[-1][0]
    code, out, _ = run(config, capsys, "db", "check", "--json")
    assert code == 1 and json.loads(out)["version"] == 0 and json.loads(out)["ok"] is False
    code, out, _ = run(config, capsys, "db", "migrate")
    assert code == 0 and f"schema version {latest} (was 0)" in out
    assert PASSWORD not in out  # the URL is shown without its password
    assert run(config, capsys, "db", "migrate")[1].endswith("(up to date)\n")
    code, out, _ = run(config, capsys, "db", "check")
    assert code == 0 and "up to date" in out
    # a command of the box works on it (the store the config names)
    assert run(config, capsys, "campaign", "create", "Spring", "--region", "US")[0] == 0
    assert pg_server.psql("SELECT name FROM campaigns", db=name).strip() == "Spring"
    dump = tmp_path / "store.dump"
    code, out, _ = run(config, capsys, "db", "backup", str(dump))
    assert code == 0 and dump.read_bytes()[:5] == b"PGDMP"
    # a backup never overwrites a file
    code, _, err = run(config, capsys, "db", "backup", str(dump))
    assert code != 0 and "exists" in err


def test_a_newer_postgresql_schema_is_refused(
    pg_config: tuple[Path, str], pg_server: Postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    config, name = pg_config
    assert run(config, capsys, "db", "migrate")[0] == 0
    pg_server.psql("INSERT INTO dialbox_schema VALUES (999, 0)", db=name)
    code, _, err = run(config, capsys, "db", "check")
    assert code != 0 and "999" in err and "newer" in err
    code, _, err = run(config, capsys, "db", "migrate")
    assert code != 0 and "newer dialbox" in err


def test_a_wrong_password_says_it_cannot_connect(
    pg_config: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config, _ = pg_config
    (tmp_path / "pw").write_text("not-it\n")
    code, _, err = run(config, capsys, "db", "check")
    assert code != 0 and "cannot connect to PostgreSQL" in err and "not-it" not in err


def test_backup_without_pg_dump_says_what_to_install(
    pg_config: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config, _ = pg_config
    monkeypatch.setattr("appliance.cli.db.shutil.which", lambda _: None)
    code, _, err = run(config, capsys, "db", "backup", str(tmp_path / "x.dump"))
    assert code != 0 and "postgresql-client" in err
    assert not (tmp_path / "x.dump").exists()


def test_sqlite_store_by_database_or_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dialbox.yaml"
    config.write_text("region: US\nstore:\n  url: sqlite:///state/d.db\n")
    code, out, _ = run(config, capsys, "db", "migrate")
    assert "schema version" in out
    assert code == 0 and (tmp_path / "state" / "d.db").exists()
    assert run(config, capsys, "db", "check")[0] == 0
    copy = tmp_path / "copy.db"
    assert run(config, capsys, "db", "backup", str(copy))[0] == 0
    assert Database(copy).version == migrations()[-1][0]


def test_store_urls_the_config_refuses() -> None:
    for url, said in (
        ("mysql://box@db/dialbox", "no store dialbox knows"),
        ("postgresql://box:pw@db/dialbox", "password_file"),
        ("sqlite:///", "names no file"),
    ):
        with pytest.raises(ValidationError, match=said):
            DialboxConfig.model_validate({"database": "x.db", "store": {"url": url}})
