"""The real daemon (#25): an agent desktop's event stream open over TCP does not hold the
daemon's shutdown — on SIGTERM the stream ends cleanly (its last chunk sent) and the daemon exits
at once, not after aiohttp's 60-second grace for open requests; a message sent meanwhile
arrives on it."""

from __future__ import annotations

import http.client
import json
import signal
import time
from pathlib import Path

import pytest

from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess

SHUTDOWN = 20.0  # seconds the daemon may take to stop; an open stream would hold it 60 s


def _event(stream: http.client.HTTPResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = stream.readline().decode()
        if line == "":
            raise EOFError("the stream ended")
        line = line.rstrip("\n")
        if line == "" and fields:
            return fields
        if line and not line.startswith(":"):
            key, _, value = line.partition(": ")
            fields[key] = value


def test_an_open_stream_ends_cleanly_when_the_daemon_stops(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path)
    db = tmp_path / "state" / "dialbox.db"
    boss = make_token(db, "boss", "supervisor")
    anna = make_token(db, "anna", "agent")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", make_token(db, "admin", "admin"))
        assert api.request("PUT", "/agents/anna", {"group": "sales"}).status == 201
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=SHUTDOWN)
        conn.request("GET", "/agents/anna/events", headers={"Authorization": f"Bearer {anna}"})
        stream = conn.getresponse()
        assert stream.status == 200
        assert stream.getheader("Content-Type", "").startswith("text/event-stream")
        first = _event(stream)
        assert first["event"] == "agent" and json.loads(first["data"])["state"] == "logged_out"
        sent = Api(api.base, boss).post("/agents/anna/messages", {"text": "closing soon"})
        assert sent.status == 202, sent
        message = _event(stream)
        assert message["event"] == "message"
        assert json.loads(message["data"])["text"] == "closing soon"

        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        with pytest.raises(EOFError):
            _event(stream)  # pings would go on for 60 s if the stream held the shutdown
        assert daemon.proc.wait(SHUTDOWN) == 0, daemon.output()
        # An upper bound far from both sides: a held stream takes aiohttp's 60 s grace.
        assert time.monotonic() - stopped_at < SHUTDOWN, daemon.output()
        conn.close()
    finally:
        daemon.stop()
