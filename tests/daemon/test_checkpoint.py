"""The daemon's event loop never checkpoints the WAL itself (issue 17: during 20 uploads a
commit of the dial loop that crossed the autocheckpoint threshold copied thousands of pages
back and blocked the loop for 0.5 s); a connection of its own does, in a worker thread."""

from __future__ import annotations

from pathlib import Path

from appliance.config.models import DialboxConfig
from appliance.daemon.runner import Daemon


def test_the_loops_connection_leaves_the_wal_to_the_checkpointer(
    tmp_path: Path,
) -> None:
    config = DialboxConfig.model_validate({"database": str(tmp_path / "d.db")})
    daemon = Daemon(None, config=config)
    wal = Path(f"{tmp_path / 'd.db'}-wal")
    try:
        assert daemon.db.conn.execute("PRAGMA wal_autocheckpoint").fetchall() == [(0,)]
        with daemon.db.transaction():
            daemon.db.conn.execute("CREATE TABLE filler(x BLOB)")
        for _ in range(30):  # 30 commits of 1.2 MB: beyond SQLite's 1000-page threshold
            with daemon.db.transaction():
                daemon.db.conn.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                    " WHERE i < 300) INSERT INTO filler SELECT zeroblob(4000) FROM n"
                )
        assert daemon.checkpoints is not None
        frames = daemon.checkpoints.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        # nothing had been copied back by the loop's commits: the checkpointer copies it all
        busy, logged, copied = frames[0]
        assert busy == 0 and logged == copied and logged > 1000, frames
        assert wal.exists()
    finally:
        for reader in daemon.readers:
            reader.close()
        daemon.db.close()


def test_at_ready_the_heap_alive_after_start_up_is_frozen(tmp_path: Path) -> None:
    # #28: under polling a full collection ran every 2-3 s, walked the ~120,000 objects alive
    # since start-up, freed nothing and held the dial loop for 60-94 ms; frozen at READY, they
    # are never walked again (the loop's worst stall went from 108 to 76 ms).
    import asyncio
    import gc

    config = DialboxConfig.model_validate({"database": str(tmp_path / "d.db")})
    daemon = Daemon(None, config=config)
    sent: list[str] = []
    daemon.notifier.ready = lambda status: sent.append(status) or True  # type: ignore[method-assign]
    daemon.status_fn = lambda: "0 lines up"
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        asyncio.run(daemon._announce_ready())  # no components: ready at once
        assert sent == ["0 lines up"]
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the modules, config and models of the daemon at least
        assert gc.get_count()[2] == 0  # and no full collection owed
    finally:
        gc.unfreeze()
        for reader in daemon.readers:
            reader.close()
        daemon.db.close()


def test_the_loops_worst_lag_of_the_last_minute_forgets_older_ones() -> None:
    # dialbox_loop_lag_recent_max_seconds (#28): start-up's long lag must not hide what holds
    # up the loop now, and a lag inside the window is never lost behind a smaller later one
    from appliance.daemon.runner import RecentMax

    recent = RecentMax(60.0)
    assert recent.add(0.0, 5.5) == 5.5  # start-up: the repair
    assert recent.add(30.0, 0.02) == 5.5
    assert recent.add(60.0, 0.01) == 5.5  # 60 s on: still inside
    assert recent.add(60.02, 0.03) == 0.03  # gone; the largest since is 0.03
    assert recent.add(61.0, 0.002) == 0.03
    assert recent.add(90.0, 0.09) == 0.09
    assert recent.add(149.0, 0.001) == 0.09
    assert recent.add(150.5, 0.004) == 0.004
    values = [(float(t), (t * 7919 % 101) / 1000) for t in range(400)]
    for at, value in values:  # against the obvious computation
        got = recent.add(1000.0 + at, value)
        assert got == max(v for t, v in values if at - 60.0 <= t <= at)
