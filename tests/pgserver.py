"""A real PostgreSQL for the tests: initdb in a temporary directory, listening only on a unix
socket there, run as an unprivileged user when the tests run as root; stopped and removed after."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def pg_bin() -> Path | None:
    """The directory of the newest PostgreSQL server binaries installed, if any."""
    for d in BIN_DIRS:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


class Postgres:
    """One throwaway cluster; `url(db)` is a SQLAlchemy URL over its socket."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (Debian package `postgresql`)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="dialbox-pg-"))
        self.data = self.root / "data"
        self.sock = self.root
        self.user = "postgres" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.root.chmod(0o755)
        self.log = self.root / "server.log"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        # password authentication for the role the box uses: a wrong password is refused
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        self.start()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-k {self.sock} -c listen_addresses='' -c fsync=off", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = self._run("psql", "-h", str(self.sock), "-U", "postgres", "-d", db, "-v",
                        "ON_ERROR_STOP=1", "-qAt", "-c", sql)  # fmt: skip
        return out.stdout

    def url(self, db: str, user: str = "dialbox") -> str:
        return f"postgresql+psycopg://{user}@/{db}?host={self.sock}"

    def dsn(self, db: str, user: str = "postgres") -> str:
        """The URL dialbox's store opens (store.url), over the socket."""
        return f"postgresql://{user}@/{db}?host={self.sock}"

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
