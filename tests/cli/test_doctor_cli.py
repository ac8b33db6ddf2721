"""`dialbox doctor`: each violation of the record invariants on a seeded database, through the
real CLI; a clean database exits 0; `--repair` mends what is safe; the daemon mends at start."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.clock import ManualClock
from appliance.config import load_config
from appliance.daemon.runner import Daemon
from appliance.store import Database, open_database
from tests.daemon.process import free_port
from tests.scheduler.dbfixtures import add_attempt, add_campaign, add_contact

NOW = dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC).timestamp()
NY = [f"+1212555{n:04d}" for n in range(100, 110)]
BUSY = 1


def _setup(tmp_path: Path) -> tuple[Path, Database, int]:
    config = tmp_path / "dialbox.yaml"
    config.write_text(
        f"database: {tmp_path}/d.db\ntimezone: America/New_York\n"
        f"api:\n  port: {free_port()}\n"
        "compliance_profile: fr\n"  # 4 calls per number per 30 days
    )
    db = open_database(tmp_path / "d.db")
    cid = add_campaign(db, "c", json.dumps({"max_attempts": 3}))
    add_contact(db, cid, [NY[0]])  # new
    # dialed once, busy, redial due: fine
    k = add_contact(db, cid, [NY[1]], state="Not Connected", next_at=NOW, attempts=1)
    add_attempt(db, k, cid, NY[1], NOW - 7200, outcome=BUSY)
    # closed by its strategy: Connected
    k = add_contact(db, cid, [NY[2]], state="Connected", attempts=1)
    add_attempt(db, k, cid, NY[2], NOW - 7200, outcome=0, answered_at=NOW - 7190)
    return config, db, cid


def _doctor(config: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["--config", str(config), "doctor", "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


def _stranded_by_blind_requeue(db: Database, cid: int) -> int:
    """The #17 record: 3 of 3 attempts, the last dangled and was requeued as Not Connected."""
    k = add_contact(db, cid, [NY[5]], state="Not Connected", next_at=NOW - 60, attempts=3)
    for n in range(3):
        add_attempt(db, k, cid, NY[5], NOW - 9000 + n * 3000, outcome=BUSY)
    db.conn.execute(
        "UPDATE attempts SET status = 'dangling', outcome = NULL WHERE contact_id = ? AND attempt_no = 3",
        (k,),
    )
    return k


def _no_redial(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6]], state="Not Connected", attempts=1)  # busy, yet no redial
    add_attempt(db, k, cid, NY[6], NOW - 3600, outcome=BUSY)
    return k


def _unheld(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6]], state="Not Connected", next_at=NOW, attempts=1)
    add_attempt(db, k, cid, NY[6], NOW - 3600, outcome=None)
    db.conn.execute("UPDATE attempts SET status = 'in_flight' WHERE contact_id = ?", (k,))
    return int(db.scalar("SELECT id FROM attempts WHERE contact_id = ?", (k,)))  # type: ignore[arg-type]


def _stale_lease(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6]], state="Sent to Dialer", attempts=1)
    add_attempt(db, k, cid, NY[6], NOW - 3600, outcome=BUSY)
    db.conn.execute(
        "UPDATE contacts SET lease_id = (SELECT id FROM attempts WHERE contact_id = ?) WHERE id = ?",
        (k, k),
    )
    return k


def _connected_line_down(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6]], state="Connected", attempts=1)
    add_attempt(db, k, cid, NY[6], NOW - 3600, outcome=0)
    db.conn.execute(
        "UPDATE attempts SET evidence = ? WHERE contact_id = ?",
        (json.dumps(["ATD+12125550106;", "line down: port gone"]), k),
    )
    return int(db.scalar("SELECT id FROM attempts WHERE contact_id = ?", (k,)))  # type: ignore[arg-type]


def _outcome_on_dangling(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6]], state="Dangling", attempts=1)
    add_attempt(db, k, cid, NY[6], NOW - 3600, outcome=BUSY)
    db.conn.execute("UPDATE attempts SET status = 'dangling' WHERE contact_id = ?", (k,))
    return int(db.scalar("SELECT id FROM attempts WHERE contact_id = ?", (k,)))  # type: ignore[arg-type]


def _over_max(db: Database, cid: int) -> int:
    k = add_contact(db, cid, [NY[6], NY[7]], state="Retries Completed", attempts=4)
    for n in range(4):
        add_attempt(db, k, cid, NY[6 + n % 2], NOW - 90000 * (n + 1), phone_index=1 + n % 2)
    return k


def _over_cap(db: Database, cid: int) -> int:
    other = add_campaign(db, "other")
    for n in range(4):  # four calls to the number from another campaign in the last days
        k = add_contact(db, other, [NY[8]], state="Retries Completed", attempts=1)
        add_attempt(db, k, other, NY[8], NOW - 86400 * (n + 2))
    k = add_contact(db, cid, [NY[8]], state="Not Connected", next_at=NOW + 7200, attempts=1)
    add_attempt(db, k, cid, NY[8], NOW - 3600)
    return int(db.scalar("SELECT id FROM attempts WHERE contact_id = ?", (k,)))  # type: ignore[arg-type]


def _count_mismatch(db: Database, cid: int) -> int:
    return add_contact(db, cid, [NY[6]], state="Not Connected", next_at=NOW, attempts=1)


SEEDS: dict[str, Callable[[Database, int], int]] = {
    "stranded": _stranded_by_blind_requeue,
    "stranded-no-redial": _no_redial,
    "in_flight_unheld": _unheld,
    "stale_lease": _stale_lease,
    "outcome_mismatch": _connected_line_down,
    "outcome_mismatch-status": _outcome_on_dangling,
    "over_max_attempts": _over_max,
    "over_number_cap": _over_cap,
    "attempt_count_mismatch": _count_mismatch,
}


def test_a_clean_database_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, db, _ = _setup(tmp_path)
    db.close()
    code, doc = _doctor(config, capsys)
    assert (code, doc["ok"], doc["violations"]) == (0, True, []), doc
    assert doc["checked"]["contacts"] == 3 and doc["checked"]["daemon"] == "stopped"
    assert main(["--config", str(config), "doctor"]) == 0
    assert capsys.readouterr().out.startswith("ok: no violation in 3 contacts")


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_each_violation_is_named_with_its_ids_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str
) -> None:
    config, db, cid = _setup(tmp_path)
    bad = SEEDS[seed](db, cid)
    db.close()
    code, doc = _doctor(config, capsys)
    kind = seed.split("-")[0]
    assert code == 1 and doc["ok"] is False
    found = {v["kind"]: v for v in doc["violations"]}
    assert kind in found, doc
    assert bad in found[kind]["examples"] and found[kind]["what_to_do"]
    if kind == "over_max_attempts":  # four attempts of three, and two on each phone of five
        assert set(found) == {"over_max_attempts"}, doc
    else:
        assert set(found) == {kind}, doc
    main(["--config", str(config), "doctor"])
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{kind}: ") and "violations of" in text[-1]


def test_in_flight_attempts_are_leftovers_only_when_the_daemon_is_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db, cid = _setup(tmp_path)
    k = add_contact(db, cid, [NY[6]], state="Sent to Dialer", attempts=1)
    add_attempt(db, k, cid, NY[6], NOW - 60, outcome=None)
    db.conn.execute("UPDATE attempts SET status = 'in_flight' WHERE contact_id = ?", (k,))
    db.conn.execute(
        "UPDATE contacts SET lease_id = (SELECT id FROM attempts WHERE contact_id = ?) WHERE id = ?",
        (k, k),
    )
    db.close()
    code, doc = _doctor(config, capsys)  # nothing answers on the API port: stopped
    assert code == 1 and [v["kind"] for v in doc["violations"]] == ["in_flight_while_stopped"]
    code, doc = _doctor(config, capsys, "--repair")
    assert code == 0 and doc["repaired"] == {"in_flight_while_stopped": 1}, doc
    db = open_database(tmp_path / "d.db")
    assert db.scalar("SELECT state FROM contacts WHERE id = ?", (k,)) == "Not Connected"
    assert db.scalar("SELECT status FROM attempts WHERE contact_id = ?", (k,)) == "dangling"


def test_repair_closes_the_stranded_through_the_strategy_and_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db, cid = _setup(tmp_path)
    exhausted = _stranded_by_blind_requeue(db, cid)
    no_redial = _no_redial(db, cid)
    db.close()
    code, doc = _doctor(config, capsys, "--repair")
    assert (code, doc["ok"], doc["repaired"]) == (0, True, {"stranded": 2}), doc
    db = open_database(tmp_path / "d.db")
    row = db.conn.execute("SELECT state, next_at FROM contacts WHERE id = ?", (exhausted,))
    assert tuple(row.fetchone()) == ("Retries Completed", None)
    # attempts remained and the strategy says Busy -> retry 2h: redial due, not closed
    state, next_at = db.conn.execute(
        "SELECT state, next_at FROM contacts WHERE id = ?", (no_redial,)
    ).fetchone()
    assert state == "Not Connected" and next_at is not None


def test_the_daemon_mends_stranded_contacts_at_start(tmp_path: Path) -> None:
    config, db, cid = _setup(tmp_path)
    k = _stranded_by_blind_requeue(db, cid)
    db.close()
    daemon = Daemon(config, clock=ManualClock(NOW))
    daemon._recover()
    assert daemon.repaired == {"stranded": 1}
    assert daemon.db.scalar("SELECT state FROM contacts WHERE id = ?", (k,)) == "Retries Completed"
    daemon.db.close()
    assert load_config(config).engine.dangling_action == "requeue"


def test_a_contact_closed_as_not_connected_is_listed_and_closed_for_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before every close was final, a wrong number whose number was blocked with no other left
    # the contact Not Connected with no redial: never dialed again, never final (issue 17).
    config, db, cid = _setup(tmp_path)
    k = add_contact(db, cid, [NY[7]], state="Not Connected", attempts=1)
    add_attempt(db, k, cid, NY[7], NOW - 3600, outcome=4)  # WrongNumber
    db.conn.execute("UPDATE contacts SET summary = -1 WHERE id = ?", (k,))  # Unreachable
    db.close()
    code, doc = _doctor(config, capsys)
    assert code == 1 and [v["kind"] for v in doc["violations"]] == ["stranded"], doc
    assert doc["violations"][0]["examples"] == [k]
    code, doc = _doctor(config, capsys, "--repair")
    assert (code, doc["repaired"]) == (0, {"stranded": 1}), doc
    db = open_database(tmp_path / "d.db")
    row = db.conn.execute("SELECT state, next_at FROM contacts WHERE id = ?", (k,)).fetchone()
    assert tuple(row) == ("Retries Completed", None)
