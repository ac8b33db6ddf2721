"""What the daemon creates is not world-readable even under a default umask of 022 (issue #18):
the state directory 0750, the database and its -wal/-shm 0640, the API socket 0660 from the
moment it exists (the mode comes from the umask at bind, not from a chmod after listening)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig
from appliance.store import open_database


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_directory_and_database_files(tmp_path: Path, umask_022: None) -> None:
    state = tmp_path / "state" / "dialbox"
    db = open_database(state / "dialbox.db")
    try:
        with db.transaction():
            db.conn.execute("INSERT INTO audit(at, actor, action) VALUES (0, 't', 'x')")
        found = {p.name: _mode(p) for p in state.iterdir()}
        assert _mode(state) == 0o750
        assert found["dialbox.db"] == 0o640
        assert found["dialbox.db-wal"] == 0o640
        assert found["dialbox.db-shm"] == 0o640
        assert all(mode & 0o007 == 0 for mode in found.values()), found
    finally:
        db.close()


def test_the_socket_is_0660_without_a_chmod_after_it_listens(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    chmods: list[str] = []
    monkeypatch.setattr(os, "chmod", lambda path, *a, **k: chmods.append(str(path)))
    db = open_database(tmp_path / "d.db")
    config = DialboxConfig(database=tmp_path / "d.db")
    services = Services(db=db, clock=ManualClock(), config=lambda: config)
    sock = tmp_path / "run" / "api.sock"
    server = HttpServer(create_app(services), ApiSettings(port=1, socket=sock))
    server.settings = server.settings.model_copy(update={"port": 0})

    async def run() -> int:
        await server.start()
        try:
            return _mode(sock)
        finally:
            await server.stop()

    try:
        assert asyncio.run(run()) == 0o660
        assert str(sock) not in chmods
        assert os.umask(0o022) == 0o022  # the umask is put back after the bind
    finally:
        db.close()
