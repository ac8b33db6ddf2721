"""The real daemon as a subprocess: READY=1, /metrics over HTTP, SIGHUP reload, SIGTERM drain."""

from __future__ import annotations

import signal
import urllib.request

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
