"""The real daemon as a subprocess: READY=1, /metrics over HTTP, SIGHUP reload, SIGTERM drain."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from tests.api.client import unix_request
from tests.daemon.process import DaemonProcess


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_ready_metrics_reload_and_drain(daemon: DaemonProcess) -> None:
    daemon.start()
    assert daemon.expect("READY")["READY"] == "1"
    status, body = _get(f"http://127.0.0.1:{daemon.port}/metrics")
    assert status == 200 and 'dialbox_build_info{version="0.1.0"} 1.0' in body
    assert daemon.expect("WATCHDOG")["WATCHDOG"] == "1"

    # a bad config on SIGHUP is refused and the daemon keeps running on the old one
    good = daemon.config.read_text()
    daemon.config.write_text(good + "bogus_key: 1\n")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    refused = daemon.expect("STATUS")
    while "refused" not in refused["STATUS"]:
        refused = daemon.expect("STATUS")
    assert "bogus_key" in refused["STATUS"]
    assert _get(f"http://127.0.0.1:{daemon.port}/healthz")[0] == 200

    daemon.config.write_text(good)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.expect("STOPPING")["STOPPING"] == "1"
    assert daemon.proc.wait(30) == 0


def _alias_bomb() -> str:
    lines = ["database: elsewhere.db", "region: DE", 'lol0: &l0 "lol"']
    for i in range(1, 10):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_on_sighup_is_refused_without_stalling_the_loop(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, extra_config="region: PL\n")
    try:
        daemon.start()
        assert daemon.expect("READY")["READY"] == "1"
        daemon.config.write_text(_alias_bomb())
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        # /healthz answers within a second every time it is asked while the file is read,
        # until it reports the refusal
        deadline = time.monotonic() + 30
        while True:
            asked = time.monotonic()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{daemon.port}/healthz", timeout=1.0
                ) as response:
                    health = json.loads(response.read())
            except OSError as exc:  # a timeout: the event loop is stuck
                raise AssertionError(f"/healthz did not answer within 1 s: {exc}") from None
            assert time.monotonic() - asked < 1.0
            if health["config"]["reload"] == "refused":
                break
            assert time.monotonic() < deadline, health
        assert f"{daemon.config}:8: refused: aliases expand" in health["config"]["problem"]
        # the old config is still the one in force, and the log says why
        setup = unix_request(tmp_path / "api.sock", "GET", "/setup")
        assert setup.status == 200 and setup.json()["config"]["region"] == "PL"
        log = daemon.output()
        assert "config reload refused, keeping the running config" in log
        assert f"{daemon.config}:8: refused: aliases expand this file" in log
    finally:
        daemon.stop()


def test_reload_is_awaitable_and_a_sighup_during_one_reads_the_file_again(tmp_path: Path) -> None:
    import asyncio

    from appliance.daemon.runner import Daemon

    path = tmp_path / "dialbox.yaml"
    path.write_text(f"database: {tmp_path}/d.db\nregion: PL\n")
    daemon = Daemon(path)

    async def scenario() -> None:
        first = daemon.reload()
        path.write_text(f"database: {tmp_path}/d.db\nregion: DE\n")
        assert daemon.reload() is first  # while it runs: once more after, in the same task
        assert first is not None
        await first
        assert daemon.config.region == "DE" and daemon.health()["config"]["reload"] == "done"
        path.write_text(f"database: {tmp_path}/d.db\nregion: [\n")
        refused = daemon.reload()
        assert refused is not None
        await refused
        assert daemon.config.region == "DE"
        assert daemon.health()["config"] == {
            "reload": "refused",
            "problem": f"{path}:3: not valid YAML: expected the node content, but found '<stream end>'",
        }

    try:
        asyncio.run(scenario())
    finally:
        daemon.db.close()
