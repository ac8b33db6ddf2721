"""Run the real `dialbox run` as a subprocess and hear what it tells systemd (NOTIFY_SOCKET)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaemonProcess:
    """`dialbox run` with NOTIFY_SOCKET pointing at a datagram socket this test reads."""

    def __init__(self, tmp_path: Path, extra_config: str = "") -> None:
        self.tmp = tmp_path
        self.port = free_port()
        self.config = tmp_path / "dialbox.yaml"
        self.config.write_text(
            f"database: {tmp_path}/state/dialbox.db\n"
            f"api:\n  listen: 127.0.0.1\n  port: {self.port}\n  socket: {tmp_path}/api.sock\n"
            + extra_config
        )
        self.notify_path = str(tmp_path / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, WATCHDOG_USEC="2000000")
        env.pop("WATCHDOG_PID", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "--config", str(self.config), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def expect(self, key: str, timeout: float = 20.0) -> dict[str, str]:
        """Read notify messages until one has `key`; return its fields."""
        self.notify.settimeout(timeout)
        while True:
            try:
                data = self.notify.recv(4096).decode()
            except TimeoutError:
                raise AssertionError(
                    f"no {key} from the daemon within {timeout} s: {self.output()}"
                ) from None
            fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            if key in fields:
                return fields

    def output(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.notify.close()
