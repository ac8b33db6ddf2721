"""sd_notify: messages arrive on a real datagram socket as systemd would read them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from appliance.daemon.sdnotify import Notifier, watchdog_interval


@pytest.fixture()
def listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    return sock, path


def test_ready_status_watchdog_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier(path)
    assert notifier.ready("2 lines up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 lines up"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=draining"


def test_abstract_namespace_address() -> None:
    name = f"dialbox-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    assert Notifier("@" + name).status("ok")
    assert sock.recv(4096) == b"STATUS=ok"


def test_without_systemd_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert not notifier.ready("x")


def test_watchdog_interval_is_half_the_timeout_for_this_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None


def test_a_full_notify_queue_never_blocks_the_sender(listener: tuple[socket.socket, str]) -> None:
    _, path = listener  # nobody reads: the receive queue fills up
    notifier = Notifier(path)
    results = [notifier.status(f"status {i}") for i in range(5000)]
    assert results[0] is True
    assert results[-1] is False  # dropped, not blocked
