"""The demo's state directory, port and campaigns: one demo per directory, `--fresh` removes only
a demo's own directory, a taken port is replaced, a re-used directory keeps the last run."""

from __future__ import annotations

import logging
import os
import socket
import sys
import warnings
from pathlib import Path

import pytest

from appliance.cli.demo import listen_port
from appliance.cli.demo_campaigns import DEMO_DNC, KEPT, NAMES, prepare
from appliance.cli.demo_inbound import INBOUND_CAMPAIGN, INBOUND_LINE
from appliance.cli.demo_state import LOCK, DemoStateError, claim, logs_to
from appliance.store import open_database
from appliance.store.campaigns import contacts_by_state, find_campaign, list_campaigns


def test_first_claim_creates_the_directory_and_a_second_claim_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "var" / "demo"
    with claim(state, fresh=False) as held:
        assert held.fresh and state.is_dir()
        assert (state / LOCK).read_text().strip() == str(os.getpid())
        with (
            pytest.raises(DemoStateError, match=r"another demo runs on .* \(pid \d+\)"),
            claim(state, fresh=False),
        ):
            pass
        # --fresh does not remove it from under the running one
        with pytest.raises(DemoStateError, match="another demo runs"), claim(state, fresh=True):
            pass
        assert (state / LOCK).exists()
    with claim(state, fresh=False) as again:  # the lock went with the block
        assert not again.fresh


def test_a_lock_left_by_a_killed_demo_is_no_obstacle(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("999999\n")  # the file stays; the kernel dropped its flock
    (tmp_path / "dialbox.db").write_bytes(b"")
    with claim(tmp_path, fresh=False) as held:
        assert not held.fresh


def test_fresh_empties_a_demo_directory(tmp_path: Path) -> None:
    (tmp_path / "dialbox.db").write_text("last run")
    (tmp_path / "modems").mkdir()
    with claim(tmp_path, fresh=True) as held:
        assert held.fresh
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK]


def test_fresh_refuses_a_directory_the_demo_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    with (
        pytest.raises(DemoStateError, match=r"not removing .*files the demo did not make"),
        claim(tmp_path, fresh=True),
    ):
        pass
    assert precious.read_text() == "years of work"


def test_a_state_dir_that_cannot_be_a_directory_is_refused_with_what_to_do(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with (
        pytest.raises(DemoStateError, match="is not a directory; give another --state-dir"),
        claim(a_file, fresh=False),
    ):
        pass
    with (
        pytest.raises(DemoStateError, match=r"cannot write .*give a writable --state-dir"),
        claim(a_file / "demo", fresh=False),
    ):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_an_unwritable_state_dir_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    state.mkdir(mode=0o555)
    try:
        with pytest.raises(DemoStateError, match="cannot write"), claim(state, fresh=False):
            pass
    finally:
        state.chmod(0o755)


def test_a_taken_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = listen_port(port)
        assert other != port and other > 0
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", other))  # free indeed
    assert listen_port(other) == other  # a free one is kept
    assert listen_port(0) > 0


def test_a_rerun_keeps_the_last_run_as_previous_and_dials_the_sample_afresh(tmp_path: Path) -> None:
    db = open_database(tmp_path / "dialbox.db")
    try:
        first = prepare(db, 1000.0)
        assert first.previous_contacts == 0 and first.archived == ()
        assert all(
            r["imported"] == 193 and r["dnc"] == len(DEMO_DNC) for r in first.imports.values()
        )
        second = prepare(db, 2000.0)
        assert second.previous_contacts == 3 * 193
        assert second.archived == tuple(f"{n}-previous" for n in KEPT)  # the inbound one too
        assert all(r["imported"] == 193 for r in second.imports.values())  # not 0 duplicates
        prepare(db, 3000.0)  # the run before the last is deleted: the database stays bounded
        names = sorted(c.name for c in list_campaigns(db))
        assert names == sorted([*KEPT, *(f"{n}-previous" for n in KEPT)])
        inbound = find_campaign(db, INBOUND_CAMPAIGN)
        assert inbound is not None and str(inbound.status) == "running"
        assert inbound.settings["answer_lines"] == [INBOUND_LINE]
        for name in NAMES:
            current = find_campaign(db, name)
            previous = find_campaign(db, f"{name}-previous")
            assert current is not None and previous is not None
            assert str(current.status) == "running" and str(previous.status) == "stopped"
            assert contacts_by_state(db, current.id).get("DNC Listed") == len(DEMO_DNC)
    finally:
        db.close()


def test_log_lines_and_warnings_go_to_the_file_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = logging.StreamHandler(sys.stderr)  # as `dialbox` sets logging up: on stderr
    logging.getLogger().addHandler(terminal)
    try:
        with logs_to(tmp_path / "demo.log"):
            logging.getLogger("appliance.engine.dialer").info("draining: 3 calls in flight")
            logging.getLogger("aiohttp.server").error("a stray library error")
            warnings.warn("something deprecated", DeprecationWarning, stacklevel=1)
        logging.getLogger("appliance.test").warning("after the block: stderr again")
    finally:
        logging.getLogger().removeHandler(terminal)
    out, err = capsys.readouterr()
    log = (tmp_path / "demo.log").read_text()
    assert "INFO appliance.engine.dialer: draining: 3 calls in flight" in log
    assert "ERROR aiohttp.server: a stray library error" in log
    assert "something deprecated" in log
    assert out == "" and "draining" not in err and "stray" not in err and "deprecated" not in err
    assert "after the block: stderr again" in err and "after the block" not in log
