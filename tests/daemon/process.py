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
        self.extra_config = extra_config
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
        # A file, not a pipe: nobody reads a pipe while the daemon runs, and a full one blocks it.
        self.log = self.tmp / "daemon.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appliance", "--config", str(self.config), "run"],
                env=env,
                stdout=log,
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
        return self.log.read_text(errors="replace") if self.proc is not None else "(not started)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.notify.close()


class EmulatorProcess:
    """`dialbox emulate gsm` as a subprocess; ready once it has printed its links."""

    def __init__(
        self,
        link_dir: Path,
        count: int,
        *,
        script: str = "",
        seed: int = 1,
        profile: str = "generic",
    ):
        self.link_dir = link_dir
        self.count = count
        script_path = link_dir.parent / f"{link_dir.name}-script.toml"
        script_path.write_text(script)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "emulate", "gsm", "--count", str(count), "--link-dir",
             str(link_dir), "--profile", profile, "--seed", str(seed), "--script", str(script_path), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()  # blocks until the ptys and the control socket exist
        assert first, "the emulator exited before it was ready"
        self.control_path = link_dir / "control.sock"

    @property
    def links(self) -> list[Path]:
        return [self.link_dir / f"gsm{i}" for i in range(self.count)]

    def control(self, command: str) -> str:
        """Send one control command (e.g. `gsm1 unplug`) and return the emulator's answer."""
        return control(self.control_path, command)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def control(path: Path, command: str) -> str:
    """One command to an emulator's control socket (one line), and its one-line answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode().strip()


def lines_config(links: list[Path]) -> str:
    return "lines:\n" + "".join(f"  - {{name: {p.name}, device: {p}}}\n" for p in links)


# Calling hours that hold at any moment CI runs: the test callees are emulated.
ALWAYS_CALLABLE = "compliance_profile: custom\ncompliance:\n  calling_hours: daily 00:00-24:00\n"
