"""`dialbox demo` as a user runs it, in a subprocess: under a terminal (a pty of 80x24) the live
panel, with no log line on the screen and the port the API really got; in a pipe plain progress
lines; a re-run re-uses the directory and still works, `--fresh` starts over; Ctrl-C and a killed
demo leave a summary and nothing in the way."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.cells import cell_len

from appliance.store.db import Database

pytestmark = pytest.mark.timeout(180)

DEMO = [sys.executable, "-m", "appliance", "demo"]
LOG_LINE = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|appliance\.\w+:|Traceback")
# CSI sequences (cursor moves, erase, colours), OSC sequences, and the charset switches
ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
API = re.compile(r"^API\s+http://127\.0\.0\.1:(\d+)", re.M)


def test_headless_demo_dials_and_sends_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [*DEMO, "--headless", "--duration", "8", "--json", "--state-dir", str(tmp_path / "demo"),
         "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)  # the one document, nothing else on stdout
    assert {"dialed", "by_outcome", "sms", "contacts_by_state", "campaigns", "lines", "agents",
            "imports", "api_port", "log"} <= set(doc)  # fmt: skip
    assert doc["dialed"] > 0 and sum(doc["by_outcome"].values()) == doc["dialed"]
    assert doc["sms"]["sent"] > 0
    voice = doc["contacts_by_state"]["sample"]
    assert sum(voice.values()) == 193  # the sample's good rows; its 6 bad rows were rejected
    assert voice.get("Sent to Dialer", 0) == 0  # drained: nothing left in flight
    assert voice["DNC Listed"] == 3  # the demo's DNC numbers, closed at import
    # the agent campaign on the emulated line card: answered calls went to the two agents
    agents = doc["contacts_by_state"]["sample-agents"]
    # the sample, and a callback contact for each inbound caller who asked for one (below)
    assert sum(agents.values()) == 193 + doc["inbound"]["callbacks"]
    assert agents.get("Sent to Dialer", 0) == 0
    # calls and SMS apart, per campaign; per line and per agent figures exist for the reports
    by_name = {c["name"]: c for c in doc["campaigns"]}
    assert by_name["sample-sms"]["dialed"] == 0 and by_name["sample-sms"]["sms_sent"] > 0
    assert by_name["sample"]["sms_sent"] == 0 and by_name["sample"]["dialed"] > 0
    assert sum(c["dialed"] for c in doc["campaigns"]) == doc["dialed"]
    assert len({line["name"] for line in doc["lines"] if line["attempts"]}) >= 3
    db = Database(tmp_path / "demo" / "dialbox.db", readonly=True)
    try:
        taken = dict(db.conn.execute("SELECT agent, count(*) FROM attempts WHERE agent IS NOT NULL"
                                     " GROUP BY agent").fetchall())  # fmt: skip
        lines = {row[0] for row in db.conn.execute("SELECT DISTINCT line FROM attempts")}
        disposed = {row[0] for row in db.conn.execute(
            "SELECT DISTINCT disposition FROM attempts WHERE agent IS NOT NULL")}  # fmt: skip
        played = [str(r[0]) for r in db.conn.execute(
            "SELECT a.evidence FROM attempts a JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE c.name = 'sample' AND a.outcome = 0")]  # fmt: skip
    finally:
        db.close()
    # the sample's answered calls heard its message: the modules hold it (a module plays only
    # the files on its flash)
    assert played and all("played reminder.amr" in e for e in played), played[:3]
    assert set(taken) == {"anna", "ben"}, taken
    # the agents end their calls with codes of the default set (#25)
    assert disposed - {None} and disposed <= {None, "end", "no_answer", "new_contact"}, disposed
    assert {"gsm0", "card2-1"} <= lines, lines
    assert {a["name"]: a["calls"] for a in doc["agents"]} == taken
    # the inbound campaign answered its first caller, who pressed 2 for a callback: counted
    # apart from the calls dialed, the flow's steps on the call, the callback contact made
    inbound = doc["inbound"]
    assert inbound["name"] == "sample-inbound" and inbound["answered"] >= 1, inbound
    assert inbound["callbacks"] >= 1
    db = Database(tmp_path / "demo" / "dialbox.db", readonly=True)
    try:
        steps = [tuple(r) for r in db.conn.execute(
            "SELECT s.kind, s.detail FROM attempt_steps s JOIN attempts a ON a.id = s.attempt_id"
            " WHERE a.direction = 'in' AND a.line = 'gsm4' AND a.number = '+17734585696'"
            " ORDER BY s.attempt_id, s.seq")]  # fmt: skip
        callback = db.scalar("SELECT count(*) FROM contacts k JOIN campaigns c ON c.id ="
                             " k.campaign_id WHERE c.name = 'sample-agents' AND"
                             " k.external_id = 'callback:+17734585696'")  # fmt: skip
    finally:
        db.close()
    assert ("input", "2") in steps and any(kind == "callback" for kind, _ in steps), steps
    assert callback == 1


# --------------------------------------------------------------------------- under a terminal
@contextmanager
def port_8089_taken() -> Iterator[None]:
    """Hold 127.0.0.1:8089 for the block (if something else holds it, it is taken all the same)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 8089))
            sock.listen()
        except OSError:
            pass
        yield


def run_in_terminal(
    args: list[str], on_output: Callable[[str], None], cols: int = 80, rows: int = 24
) -> tuple[int, str]:
    """Run `args` with a pty of `cols` x `rows` as its terminal; `on_output` sees all the output
    so far after each read. Returns the exit status and everything it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm-256color"}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: the terminal's last writer is gone
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
            on_output(b"".join(chunks).decode("utf-8", "replace"))
        return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def screen_lines(output: str) -> list[str]:
    """What the terminal shows line by line: escape codes out, each \\r-overwrite a line."""
    plain = ESCAPE.sub("", output)
    return [part for line in plain.split("\n") for part in line.split("\r")]


def test_live_panel_fits_80_columns_keeps_logs_off_and_prints_the_port_it_bound(
    tmp_path: Path,
) -> None:
    answers: dict[int, bytes] = {}

    def ask_the_printed_port(output: str) -> None:
        found = API.search(ESCAPE.sub("", output))
        if found and not answers:
            port = int(found.group(1))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
                answers[port] = reply.read()

    with port_8089_taken():
        status, output = run_in_terminal(
            [*DEMO, "--state-dir", str(tmp_path / "demo"), "--duration", "6"],
            ask_the_printed_port,
        )
    lines = screen_lines(output)
    plain = "\n".join(lines)
    assert status == 0, plain[-3000:]
    # the port printed is the one the API listens on (8089 was taken), and it is the demo's
    ((port, metrics),) = answers.items()
    assert port != 8089 and b"dialbox_" in metrics
    assert f"port 8089 was taken: the API listens on {port}" in plain
    # the live panel: drawn in place (cursor moves), at most 80 cells a line, no log lines
    assert "\x1b[1A" in output and "Ctrl-C stops" in plain and "╭─ dialbox demo" in plain
    assert max(cell_len(line) for line in lines) <= 80, max(lines, key=cell_len)
    assert not [line for line in lines if LOG_LINE.search(line)]
    # the summary at the end, and where the log is (it has the daemon's lines instead)
    assert "dialbox demo: summary" in plain and "stopped after --duration 6 s" in plain
    total = next(line for line in lines if line.startswith("total"))
    dialed, _, _, _, sms, dnc = (int(n) for n in total.split()[1:7])
    assert dialed > 0 and sms > 0 and dnc == 9
    log = (tmp_path / "demo" / "demo.log").read_text()
    assert "INFO appliance." in log and "API listening on" in log


# --------------------------------------------------------------------------- in a pipe
def start(state: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*DEMO, "--state-dir", str(state), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)  # fmt: skip


def read_until(proc: subprocess.Popen[str], mark: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(mark):
            return seen
    raise AssertionError(f"the demo ended before {mark!r}: {''.join(seen)[-2000:]}")


def finish(proc: subprocess.Popen[str], seen: list[str]) -> tuple[int, str, str]:
    assert proc.stdout is not None and proc.stderr is not None
    rest = proc.stdout.read()
    err = proc.stderr.read()
    return proc.wait(timeout=60), "".join(seen) + rest, err


def run_plain(state: Path, *extra: str) -> tuple[int, str, str]:
    result = subprocess.run([*DEMO, "--state-dir", str(state), *extra], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def summed(out: str) -> list[int]:
    total = next(line for line in out.splitlines() if line.startswith("total"))
    return [int(n) for n in total.split()[1:7]]


def test_a_rerun_reuses_the_directory_and_still_works_and_fresh_starts_over(
    tmp_path: Path,
) -> None:
    state = tmp_path / "demo"
    status, first, err = run_plain(state, "--duration", "3")
    assert status == 0 and err == "", err
    assert f"{state}: created" in " ".join(first.split()) and "re-using" not in first
    assert "\x1b" not in first  # a pipe: no escape codes
    status, second, err = run_plain(state, "--duration", "3")
    assert status == 0 and err == "", err
    reuse = " ".join(second.split())  # the sentence may wrap at 80 columns
    # the sample three times, and the inbound campaign's callers (and their callbacks) if any rang
    kept = re.search(rf"re-using {re.escape(str(state))} \((\d+) contacts from the last run;"
                     r" --fresh to start over\)", reuse)  # fmt: skip
    assert kept is not None and 579 <= int(kept.group(1)) <= 579 + 4, reuse
    assert ("sample-previous, sample-sms-previous, sample-agents-previous,"
            " sample-inbound-previous") in reuse  # fmt: skip
    assert "imported sample 193 (3 DNC), sample-sms 193 (3 DNC)" in second  # not 0 again
    dialed, _, _, _, sms, _ = summed(second)
    assert dialed + sms > 0  # the re-used directory did visible work
    status, third, err = run_plain(state, "--duration", "3", "--fresh")
    assert status == 0 and err == "", err
    assert "removed and created afresh (--fresh)" in " ".join(third.split())
    assert "re-using" not in third
    db = Database(state / "dialbox.db", readonly=True)
    try:
        names = sorted(r[0] for r in db.conn.execute("SELECT name FROM campaigns"))
    finally:
        db.close()
    assert names == ["sample", "sample-agents", "sample-inbound", "sample-sms"]  # nothing before


def test_ctrl_c_mid_demo_drains_prints_the_summary_and_exits_0(tmp_path: Path) -> None:
    proc = start(tmp_path / "demo")  # no --duration: it would run 60 s
    seen = read_until(proc, "[0:05]")  # the first progress line: the daemon is dialing
    proc.send_signal(signal.SIGINT)
    status, out, err = finish(proc, seen)
    assert status == 0, err
    assert "Traceback" not in out + err and err == ""
    assert "dialbox demo: summary" in out and "stopped by Ctrl-C" in out
    assert "no terminal: the demo stops after 60 s" in out
    assert not [line for line in out.splitlines() if LOG_LINE.search(line)]
    db = Database(tmp_path / "demo" / "dialbox.db", readonly=True)
    try:
        flying = db.scalar("SELECT count(*) FROM attempts WHERE status = 'in_flight'")
    finally:
        db.close()
    assert flying == 0  # drained: calls in flight finished or were hung up


@pytest.mark.parametrize("mark", ["/", "API"], ids=["after-the-import", "once-it-listens"])
def test_ctrl_c_early_ends_cleanly_too(tmp_path: Path, mark: str) -> None:
    """Hostile: Ctrl-C while the emulators and the daemon start, or just after the API listens."""
    proc = start(tmp_path / "demo", "--duration", "30")
    seen = read_until(proc, mark)
    proc.send_signal(signal.SIGINT)
    status, out, err = finish(proc, seen)
    assert status in (0, 130), err
    assert "Traceback" not in out + err, err[-3000:]
    if status == 0:
        assert "dialbox demo: summary" in out and "stopped by Ctrl-C" in out


def test_a_second_demo_is_refused_and_a_killed_one_leaves_nothing_in_the_way(
    tmp_path: Path,
) -> None:
    state = tmp_path / "demo"
    proc = start(state, "--duration", "60")
    try:
        seen = read_until(proc, "[0:05]")
        status, out, err = run_plain(state, "--duration", "3")
        assert status == 2 and out == ""
        assert f"another demo runs on {state} (pid {proc.pid})" in err
        assert "Traceback" not in err
        proc.kill()  # SIGKILL: no drain, the lock file, the socket and calls in flight stay
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen
    status, out, err = run_plain(state, "--duration", "3")
    assert status == 0, err[-3000:]
    assert "re-using" in out and "dialbox demo: summary" in out
    db = Database(state / "dialbox.db", readonly=True)
    try:
        flying = db.scalar("SELECT count(*) FROM attempts WHERE status = 'in_flight'")
    finally:
        db.close()
    assert flying == 0  # the killed run's calls were settled at the next start


def test_a_state_dir_under_a_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    status, out, err = run_plain(tmp_path / "file" / "demo", "--duration", "3")
    assert status == 2 and out == ""
    assert "cannot write the demo's state directory" in err and "--state-dir" in err
    assert "Traceback" not in err


def test_a_corrupt_database_is_refused_and_fresh_mends_it(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    state.mkdir()
    (state / "dialbox.db").write_bytes(b"not a database, " * 512)
    status, out, err = run_plain(state, "--duration", "3")
    assert status == 2 and "cannot open the demo's database" in err and "--fresh" in err
    assert "Traceback" not in err
    status, out, err = run_plain(state, "--duration", "3", "--fresh")
    assert status == 0, err[-3000:]
    assert "dialbox demo: summary" in out
