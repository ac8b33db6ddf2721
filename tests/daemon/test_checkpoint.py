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
