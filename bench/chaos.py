"""Chaos bench (issue #17): the real daemon against emulated GSM modems, killed and faulted at
random moments, watched from the outside. Prints one JSON document.

Only public interfaces: the `dialbox` CLI (campaign, import, token, doctor), the HTTP API
(strategy, start, uploads, /metrics, /healthz), the daemon's log file, the database opened
read-only, and the emulator (`dialbox emulate gsm --journal FILE`, its control socket, signals).
The emulator's journal is the far end's record of every ATD it received and of each call's
fate; it is what the database is checked against.

Phases (``--phase kills|faults|uploads|all``):

* **kills** — an automated campaign of ``--contacts`` (1,000) on ``--modems`` (8) emulated
  modems, each number scripted to one outcome (answer, busy, no-answer, reject, unreachable,
  invalid, congestion); strategy ``Connected: close, default: retry 20s``, ``max_attempts=3``,
  ``engine.dangling_action: requeue`` with ``requeue_delay`` = the retry delay. The daemon is
  SIGKILLed ``--kills`` (50) times, each at a seeded random moment 0.3–8 s after it was spawned
  (start-up and sweep included), restarted at once, and left to finish. Then:
  ``modem_calls_missing_from_db`` (an accepted ATD with no attempt row for that number and line
  around that time), ``duplicate_attempts`` (the same number dialed again by the modems sooner
  than the retry delay, plus contacts whose attempt counter disagrees with their rows),
  ``attempts_in_flight_left``, ``contacts_not_final`` (Pending / Not Connected / SMS sent /
  Sent to Dialer with no future dial: attempts used up, or a due time in the past while the
  campaign is idle).
* **faults** — one modem in its own emulator process; at a random moment 0.3–5 s into an
  answered call: ``unplug`` (the pty closed, link removed), ``silent`` (the module stops
  answering), ``garbage`` (every command answered with line noise), ``emulator_killed``
  (SIGKILL of the emulator process). ``line_down_seconds``: from the fault to
  ``dialbox_line_up{line="victim"} 0`` on /metrics (polled every 0.1 s; null: not down within
  ``--down-timeout``), the worst of ``--fault-repeats`` trials per kind.
  ``answered_cut_recorded_connected``: cut calls recorded as Connected (must be ErrorOccurred).
* **uploads** — ``--uploads`` (20) concurrent ``POST /campaigns/u/contacts/upload`` of
  ``--upload-rows`` (100,000) distinct rows each, into a second campaign, while campaign ``c``
  dials on every modem; 429/503 are retried after Retry-After. ``upload_status_codes`` counts
  every answer, ``busy_errors`` the BusyError lines in the daemon's log.
  ``max_dial_loop_stall_ms``: the daemon's ``dialbox_loop_lag_seconds`` if /metrics has it
  (scraped every 5 s, as Prometheus would), else measured from the outside — the longest time a
  modem stayed free (journal: its call's end → its next ATD) during the uploads;
  ``stall_source`` says which, and ``stall_baseline_ms`` gives the same figure for as long a
  window before the uploads.

Finally ``dialbox doctor --json`` on each phase's database (null when the command does not
exist). ``--quick``: 5 kills, 100 contacts, 4 modems, 5 s retry delay, one fault per kind,
5 uploads of 10,000 rows.

    .venv/bin/python bench/chaos.py [--phase all] [--kills 50] [--seed 17] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

AREA_CODES = ("212", "312", "415", "206", "617", "305", "713", "602", "303", "404")
# NXX exchanges of valid numbers: no N11 service codes, no 555
EXCHANGES = [x for x in range(200, 1000) if x % 100 != 11 and x != 555]
# outcome -> weight of the numbers scripted to it (kills and uploads phases)
OUTCOME_WEIGHTS = {
    "answer": 40,
    "busy": 15,
    "no-answer": 10,
    "reject": 10,
    "unreachable": 10,
    "invalid": 5,
    "congestion": 10,
}
FINAL_STATES = ("Connected", "Retries Completed", "DNC Listed", "SMS sent and Closed",
                "SMS responded", "Dangling")  # fmt: skip
OUTCOME_NAMES = {0: "Connected", 1: "Busy", 2: "Knocking", 3: "Unreachable", 4: "WrongNumber",
                 5: "Incompatible", 6: "Fax", 7: "AnsweringMachine", 8: "NoLine",
                 9: "ErrorOccurred", 10: "NoAgent", 11: "AgentTransfer", 12: "AgentHangUp",
                 13: "AlertingTimeout", 14: "TransferTimeout", 15: "Abandoned", 16: "Rejected",
                 1000: "Banned"}  # fmt: skip
CONNECTED = 0
SLACK = 1.0  # seconds of clock slack between the emulator's journal and the database
REDIAL_SLACK = 0.25  # a redial is never sooner than the delay after the previous ATD


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the world
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def e164(i: int) -> tuple[str, str]:
    """Contact i's number as written in the file, and its E.164 form (distinct for i < 78M)."""
    area = AREA_CODES[i % 10]
    exchange = EXCHANGES[(i // 10) % len(EXCHANGES)]
    line = (i // (10 * len(EXCHANGES))) % 10000
    return f"({area}) {exchange}-{line:04d}", f"+1{area}{exchange}{line:04d}"


def write_contacts(path: Path, first: int, count: int) -> list[str]:
    numbers = []
    with path.open("w") as f:
        for i in range(first, first + count):
            written, number = e164(i)
            numbers.append(number)
            f.write(f"{written},,,,,Callee {i},AC-{i:07d}\n")
    return numbers


def write_script(path: Path, numbers: list[str], rng: random.Random, time_scale: float,
                 outcomes: dict[str, int], ring: tuple[float, float] = (1.0, 8.0),
                 talk: tuple[float, float] = (3.0, 20.0)) -> Counter[str]:  # fmt: skip
    """A TOML emulator script: each number scripted to one outcome (seeded)."""
    names, weights = list(outcomes), list(outcomes.values())
    lines = [f"time_scale = {time_scale}", "[random]", "answer = 1"]
    plan: Counter[str] = Counter()
    for number in numbers:
        outcome = rng.choices(names, weights)[0]
        plan[outcome] += 1
        lines += [
            "[[numbers]]",
            f'number = "{number}"',
            f'outcome = "{outcome}"',
            f"setup = {rng.uniform(0.2, 1.5):.2f}",
            f"ring = {rng.uniform(*ring):.2f}",
            f"talk = {rng.uniform(*talk):.2f}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return plan


class Emulator:
    """`dialbox emulate gsm` in its own process, with a journal."""

    def __init__(self, link_dir: Path, count: int, script: Path, journal: Path, seed: int):
        self.link_dir, self.count, self.script, self.journal, self.seed = (
            link_dir, count, script, journal, seed)  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "emulate", "gsm", "--count", str(self.count),
             "--link-dir", str(self.link_dir), "--profile", "simcom", "--seed", str(self.seed),
             "--script", str(self.script), "--journal", str(self.journal), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline():
            raise RuntimeError("the emulator exited before it was ready")

    @property
    def links(self) -> list[Path]:
        return [self.link_dir / f"gsm{i}" for i in range(self.count)]

    def control(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.link_dir / "control.sock"))
            sock.sendall(command.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        if not answer.startswith(b"ok"):
            raise RuntimeError(f"emulator control {command!r}: {answer.decode().strip()}")
        return answer.decode().strip()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Box:
    """A config, a database and the daemon (`python -m appliance --config … run`)."""

    def __init__(self, work: Path, lines: list[tuple[str, Path]], engine: dict[str, Any]):
        self.work = work
        self.port = free_port()
        self.config = work / "dialbox.yaml"
        self.db = work / "dialbox.db"
        self.log = work / "daemon.log"
        engine_yaml = "".join(f"  {k}: {v}\n" for k, v in engine.items())
        self.config.write_text(
            f"database: {self.db}\nregion: US\nlog_level: INFO\n"
            "compliance_profile: custom\ncompliance:\n  calling_hours: daily 00:00-24:00\n"
            f"api:\n  listen: 127.0.0.1\n  port: {self.port}\n"
            f"engine:\n{engine_yaml}"
            "lines:\n" + "".join(f"  - {{name: {n}, device: {d}}}\n" for n, d in lines)
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0
        self.token = ""

    # -- CLI
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "appliance", "--config", str(self.config),
                               *args], capture_output=True, text=True, check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"dialbox {' '.join(args)}: {done.stderr.strip()}")
        return done

    def create_campaign(self, name: str, csv: Path, **settings: object) -> None:
        self.cli("campaign", "create", name, "--type", "automated", "--region", "US")
        if settings:
            self.cli("campaign", "set", name, *(f"{k}={v}" for k, v in settings.items()))
        self.cli("import", "--campaign", name, str(csv))

    def create_token(self) -> None:
        done = self.cli("token", "create", f"chaos-{os.getpid()}", "--scope", "admin", "--json")
        self.token = json.loads(done.stdout)["token"]

    # -- the daemon
    def start(self) -> None:
        self.spawned = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appliance", "--config", str(self.config), "run"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                status, body = self.http("GET", "/healthz", timeout=2)
                if status == 200 and json.loads(body).get("ready"):
                    return
            if not self.alive():
                raise RuntimeError(f"the daemon exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon was not ready in {timeout} s: {self.tail()}")
            time.sleep(0.1)  # polling another process

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    # -- HTTP
    def http(self, method: str, path: str, body: bytes | None = None, *,
             content_type: str = "application/json", timeout: float = 30.0,
             ) -> tuple[int, bytes]:  # fmt: skip
        status, _, data = self.http_full(method, path, body, content_type=content_type,
                                         timeout=timeout)  # fmt: skip
        return status, data

    def http_full(self, method: str, path: str, body: bytes | None = None, *,
                  content_type: str = "application/json", timeout: float = 30.0,
                  ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                         method=method)  # fmt: skip
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def api(self, method: str, path: str, document: object = None) -> Any:
        body = json.dumps(document).encode() if document is not None else None
        status, data = self.http(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data[:500]!r}")
        return json.loads(data) if data else None

    def metrics(self, timeout: float = 5.0) -> str:
        status, data = self.http("GET", "/metrics", timeout=timeout)
        return data.decode() if status == 200 else ""

    def strategy_and_start(self, campaign: str, retry: str) -> None:
        self.api("PUT", f"/campaigns/{campaign}/strategy", {
            "name": "chaos", "attempts": [{"channel": "voice", "phone": 1}], "repeat_last": True,
            "on": {"Connected": "close", "default": f"retry {retry}"},
        })  # fmt: skip
        self.api("POST", f"/campaigns/{campaign}/start")

    # -- the database, read-only
    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        for _ in range(50):
            try:
                conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
                try:
                    return conn.execute(sql, params).fetchall()
                finally:
                    conn.close()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.1)  # the daemon holds the write lock; read again
        raise RuntimeError(f"the database stayed locked: {sql}")

    def scalar(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        return self.query(sql, params)[0][0]

    def doctor(self) -> Any:
        done = self.cli("doctor", "--json", check=False)
        if done.returncode != 0 and ("invalid choice" in done.stderr or not done.stdout.strip()):
            return None if "invalid choice" in done.stderr else {"error": done.stderr.strip()}
        try:
            return json.loads(done.stdout)
        except ValueError:
            return {"error": "not JSON", "stdout": done.stdout[:2000]}


def read_journal(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
        for raw in f:
            with contextlib.suppress(ValueError):
                events.append(json.loads(raw))
    return events


def line_up(metrics: str, line: str) -> bool | None:
    match = re.search(rf'^dialbox_line_up\{{[^}}]*line="{re.escape(line)}"[^}}]*\}} (\S+)$',
                      metrics, re.M)  # fmt: skip
    return None if match is None else float(match.group(1)) == 1.0


# ---------------------------------------------------------------------- phase 1: kills
def contacts_not_final(box: Box, campaign: str, max_attempts: int) -> dict[str, int]:
    """Contacts that will never be dialed again and are not in a final state, by state/reason."""
    now = time.time()
    marks = ",".join("?" * len(FINAL_STATES))
    rows = box.query(
        "SELECT k.state, k.attempts, k.next_at FROM contacts k JOIN campaigns c"
        f" ON c.id = k.campaign_id WHERE c.name = ? AND k.state NOT IN ({marks})",
        (campaign, *FINAL_STATES),
    )
    out: Counter[str] = Counter()
    for state, attempts, next_at in rows:
        if state == "Sent to Dialer":
            out["Sent to Dialer (lease left)"] += 1
        elif attempts >= max_attempts:
            out[f"{state}: attempts used up"] += 1
        elif next_at is None or next_at <= now:
            out[f"{state}: due, not dialed"] += 1
        # else: a future dial is planned, the contact is not final yet
    return dict(out)


def waiting(box: Box, campaign: str, max_attempts: int) -> int:
    """Contacts with a dial still to come: leased, or due later with attempts left."""
    return int(box.scalar(
        "SELECT count(*) FROM contacts k JOIN campaigns c ON c.id = k.campaign_id WHERE c.name = ?"
        " AND (k.state = 'Sent to Dialer' OR (k.state IN ('Pending', 'Not Connected', 'SMS sent')"
        " AND k.attempts < ? AND (k.next_at IS NULL OR k.next_at > ?)))",
        (campaign, max_attempts, time.time())))  # fmt: skip


def wait_finished(box: Box, campaign: str, max_attempts: int, timeout: float, quiet: float
                  ) -> bool:  # fmt: skip
    """Until nothing is in flight, nothing waits for a later dial and no attempt has changed
    for `quiet` seconds (a due contact would have been dialed by then)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        if not box.alive():
            raise RuntimeError(f"the daemon exited: {box.tail()}")
        state = box.query(
            "SELECT count(*), sum(status = 'in_flight'), max(ended_at) FROM attempts"
        )[0]
        if state != last:
            last, since = state, time.monotonic()
        if (
            (not state[1])
            and waiting(box, campaign, max_attempts) == 0
            and (time.monotonic() - since >= quiet)
        ):
            return True
        time.sleep(0.5)  # polling another process's database
    return False


def compare(box: Box, journal: list[dict[str, Any]], min_gap: float) -> dict[str, Any]:
    """The modems' record against the database's."""
    attempts = box.query(
        "SELECT id, contact_id, number, line, status, queued_at, ended_at, outcome FROM attempts"
    )
    by_number: dict[str, list[tuple[Any, ...]]] = {}
    for row in attempts:
        by_number.setdefault(row[2], []).append(row)
    dials = [e for e in journal if e.get("event") == "dial"]
    missing = []
    for d in dials:
        found = any(
            a[3] == d["modem"] and a[5] - SLACK <= d["t"] <= (a[6] or float("inf")) + SLACK
            for a in by_number.get(d["number"], ())
        )
        if not found:
            missing.append(d)
    # the same number rung again sooner than the retry delay allows (accepted ATDs only)
    rung: dict[str, list[float]] = {}
    for d in dials:
        if "refused" not in d:
            rung.setdefault(d["number"], []).append(d["t"])
    redials = []
    for number, times in rung.items():
        times.sort()
        redials += [
            (number, round(b - a, 2))
            for a, b in itertools.pairwise(times)
            if b - a < min_gap - REDIAL_SLACK
        ]
    # the database's own view: consecutive attempts of a contact closer than the delay
    db_close = box.scalar(
        "SELECT count(*) FROM attempts a JOIN attempts b ON b.contact_id = a.contact_id"
        " AND b.attempt_no = a.attempt_no + 1 WHERE b.queued_at - a.queued_at < ?",
        (min_gap - REDIAL_SLACK,))  # fmt: skip
    mismatched = box.scalar(
        "SELECT count(*) FROM contacts k WHERE k.attempts !="
        " (SELECT count(*) FROM attempts WHERE contact_id = k.id)"
    )
    return {
        "modem_calls": len(dials),
        "modem_calls_refused": sum("refused" in d for d in dials),
        "modem_calls_missing_from_db": len(missing),
        "missing_examples": missing[:5],
        "redials_within_retry_delay": len(redials),
        "redial_examples": redials[:5],
        "db_attempts_within_retry_delay": int(db_close),
        "contacts_attempt_count_mismatch": int(mismatched),
        "duplicate_attempts": len(redials) + int(mismatched),
        "attempts": len(attempts),
        "attempts_dangling": sum(a[4] == "dangling" for a in attempts),
    }


def phase_kills(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work.mkdir(parents=True)
    numbers = write_contacts(work / "contacts.csv", 0, args.contacts)
    plan = write_script(work / "script.toml", numbers, rng, args.time_scale, OUTCOME_WEIGHTS)
    journal = work / "journal.jsonl"
    emulator = Emulator(work / "modems", args.modems, work / "script.toml", journal, args.seed)
    retry = args.retry_delay
    box = Box(work, [(p.name, p) for p in emulator.links],
              {"tick": 0.2, "dangling_action": "requeue", "requeue_delay": retry})  # fmt: skip
    started = time.monotonic()
    try:
        box.create_campaign("c", work / "contacts.csv", max_attempts=args.max_attempts)
        box.create_token()
        box.start()
        box.wait_ready()
        box.strategy_and_start("c", f"{retry:g}s")
        log(f"kills: campaign of {args.contacts} started on {args.modems} modems")
        kills, cut, during_start = 0, 0, 0
        while kills < args.kills:
            moment = box.spawned + rng.uniform(0.3, args.max_gap)
            while time.monotonic() < moment:
                if not box.alive():
                    raise RuntimeError(f"the daemon exited by itself: {box.tail()}")
                time.sleep(min(0.05, max(0.0, moment - time.monotonic())))  # the chosen moment
            if waiting(box, "c", args.max_attempts) == 0 and not box.scalar(
                "SELECT count(*) FROM attempts WHERE status = 'in_flight'"
            ):
                log(f"kills: the campaign ran out of dials after {kills} kills")
                break
            with contextlib.suppress(OSError, ValueError):
                status, body = box.http("GET", "/healthz", timeout=0.5)
                during_start += status != 200 or not json.loads(body).get("ready")
            box.kill()
            kills += 1
            in_flight = box.scalar("SELECT count(*) FROM attempts WHERE status = 'in_flight'")
            cut += in_flight > 0
            if kills % 10 == 0:
                log(f"kills: {kills} done")
            box.start()
        log("kills: letting the campaign finish")
        finished = wait_finished(box, "c", args.max_attempts, args.timeout, args.quiet)
        campaign_seconds = time.monotonic() - started
        box.stop()
        figures = compare(box, read_journal(journal), retry)
        not_final = contacts_not_final(box, "c", args.max_attempts)
        states = dict(box.query("SELECT state, count(*) FROM contacts GROUP BY state"))
        outcomes = {OUTCOME_NAMES.get(o, str(o)): n for o, n in box.query(
            "SELECT outcome, count(*) FROM attempts WHERE outcome IS NOT NULL GROUP BY outcome")}  # fmt: skip
        return {
            "kills": kills,
            "kills_that_cut_calls": cut,
            "kills_before_ready": during_start,
            "finished": finished,
            "campaign_seconds": round(campaign_seconds, 1),
            "contacts_not_final": sum(not_final.values()),
            "contacts_not_final_by_reason": not_final,
            "attempts_in_flight_left": int(
                box.scalar("SELECT count(*) FROM attempts WHERE status = 'in_flight'")
            ),
            **figures,
            "contact_states": states,
            "outcomes": outcomes,
            "scripted_numbers": dict(plan),
            "doctor": box.doctor(),
        }
    finally:
        box.stop()
        emulator.stop()


# ---------------------------------------------------------------------- phase 2: faults
FAULTS = ("unplug", "silent", "garbage", "emulator_killed")


def phase_faults(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed + 2)
    work.mkdir(parents=True)
    count = 10 + len(FAULTS) * args.fault_repeats * 3
    numbers = write_contacts(work / "contacts.csv", 500_000, count)
    write_script(work / "script.toml", numbers, rng, 1.0, {"answer": 1}, ring=(0.5, 2.0),
                 talk=(25.0, 40.0))  # fmt: skip
    journal = work / "journal.jsonl"
    victim = Emulator(work / "victim", 1, work / "script.toml", journal, args.seed)
    box = Box(work, [("victim", victim.links[0])],
              {"tick": 0.2, "dangling_action": "requeue", "requeue_delay": 20})  # fmt: skip
    samples: dict[str, list[float | None]] = {k: [] for k in FAULTS}
    trials: dict[str, list[dict[str, Any]]] = {k: [] for k in FAULTS}
    try:
        box.create_campaign("c", work / "contacts.csv", max_attempts=3)
        box.create_token()
        box.start()
        box.wait_ready()
        box.strategy_and_start("c", "20s")
        for trial in range(args.fault_repeats):
            for kind in FAULTS:
                log(f"faults: {kind} #{trial + 1}")
                trial_result = fault_trial(box, victim, journal, kind, rng, args.down_timeout)
                samples[kind].append(trial_result["seconds"])
                trials[kind].append(trial_result)
        worst: dict[str, float | None] = {}
        for kind, values in samples.items():
            worst[kind] = (
                None if not values or None in values else max(v for v in values if v is not None)
            )
        box.stop()
        return {
            "line_down_seconds": worst,
            "line_down_samples": samples,
            "line_down_timeout_s": args.down_timeout,
            "trials": trials,
            "answered_calls_cut": sum(t["cut"] for ts in trials.values() for t in ts),
            "answered_cut_recorded_connected": sum(
                t["cut"] and t["outcome"] == "Connected" for ts in trials.values() for t in ts
            ),
            "doctor": box.doctor(),
        }
    finally:
        box.stop()
        victim.stop()


def fault_trial(box: Box, victim: Emulator, journal: Path, kind: str, rng: random.Random,
                down_timeout: float) -> dict[str, Any]:  # fmt: skip
    """One fault at a random moment of an answered call: seconds to line down, the outcome
    recorded for the call, whether the fault cut it."""
    wait_line(box, "victim", up=True, timeout=120)
    seen = {e["call"] for e in read_journal(journal) if e.get("event") == "answer"}
    deadline = time.monotonic() + 120
    while True:
        answers = [e for e in read_journal(journal) if e.get("event") == "answer"
                   and e["call"] not in seen]  # fmt: skip
        if answers:
            call = answers[0]
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answered call on the victim line in 120 s: {box.tail()}")
        time.sleep(0.05)  # polling the journal
    time.sleep(rng.uniform(0.3, 5.0))  # the fault's random moment inside the call
    ended = [
        e for e in read_journal(journal) if e.get("event") == "end" and e["call"] == call["call"]
    ]
    if ended:
        raise RuntimeError(f"the call {call} ended before the fault: talk is too short")
    t0 = time.monotonic()
    if kind == "emulator_killed":
        victim.kill()
    else:
        victim.control({"unplug": "gsm0 unplug", "silent": "gsm0 silent on",
                        "garbage": "gsm0 garbage on"}[kind])  # fmt: skip
    fault_at = time.time()
    down = None
    while time.monotonic() - t0 < down_timeout:
        with contextlib.suppress(OSError):
            if line_up(box.metrics(timeout=2), "victim") is False:
                down = time.monotonic() - t0
                break
        time.sleep(0.1)  # polling /metrics
    # put the world back
    if kind == "emulator_killed":
        victim.start()
    else:
        victim.control({"unplug": "gsm0 replug", "silent": "gsm0 silent off",
                        "garbage": "gsm0 garbage off"}[kind])  # fmt: skip
    # the attempt that carried the cut call, once it is no longer in flight
    deadline = time.monotonic() + 240
    while True:
        rows = box.query(
            "SELECT status, outcome FROM attempts WHERE number = ? AND line = 'victim'"
            " AND queued_at <= ? ORDER BY queued_at DESC LIMIT 1", (call["number"], call["t"] + SLACK))  # fmt: skip
        if rows and rows[0][0] != "in_flight":
            status, code = rows[0]
            outcome = "dangling" if status == "dangling" else OUTCOME_NAMES.get(code, str(code))
            break
        if time.monotonic() > deadline:
            outcome = "still in flight after 240 s"
            break
        time.sleep(0.2)  # polling another process's database
    # Cut: the host lost the call. Unplug, a killed emulator and a silent module sever it
    # whenever they land; garbage (answers to commands only) cuts it if the line was taken
    # down while the far end still had the call.
    end = next((e for e in read_journal(journal) if e.get("event") == "end"
                and e["call"] == call["call"]), None)  # fmt: skip
    cut = kind != "garbage" or (
        down is not None and (end is None or end["t"] > fault_at + down - SLACK / 10)
    )
    return {"seconds": None if down is None else round(down, 3), "outcome": outcome, "cut": cut,
            "far_end": None if end is None else end.get("by")}  # fmt: skip


def wait_line(box: Box, line: str, *, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while line_up(box.metrics(), line) is not up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"line {line} not {'up' if up else 'down'} in {timeout} s")
        time.sleep(0.1)  # polling /metrics


# ---------------------------------------------------------------------- phase 3: uploads
def phase_uploads(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed + 3)
    work.mkdir(parents=True)
    dialing = max(2000, args.modems * 250)
    numbers = write_contacts(work / "contacts.csv", 1_000_000, dialing)
    write_script(work / "script.toml", numbers, rng, args.time_scale, OUTCOME_WEIGHTS)
    journal = work / "journal.jsonl"
    emulator = Emulator(work / "modems", args.modems, work / "script.toml", journal, args.seed)
    box = Box(work, [(p.name, p) for p in emulator.links],
              {"tick": 0.2, "dangling_action": "requeue", "requeue_delay": 20})  # fmt: skip
    files = []
    for k in range(args.uploads):
        path = work / f"upload{k}.csv"
        write_contacts(path, 2_000_000 + k * args.upload_rows, args.upload_rows)
        files.append(path.read_bytes())
    try:
        box.create_campaign("c", work / "contacts.csv", max_attempts=3)
        box.cli("campaign", "create", "u", "--type", "automated", "--region", "US")
        box.create_token()
        box.start()
        box.wait_ready()
        box.strategy_and_start("c", "20s")
        # warm up: every modem has had calls
        deadline = time.monotonic() + 120
        while box.scalar("SELECT count(*) FROM attempts WHERE status = 'done'") < 3 * args.modems:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the campaign does not dial: {box.tail()}")
            time.sleep(0.2)  # polling another process's database
        lag_metric = "dialbox_loop_lag_seconds" in box.metrics()
        log(f"uploads: baseline window ({args.baseline:g} s)")
        base0 = time.time()
        base_hist0 = lag_histogram(box)
        monitor = Monitor(box, lag_metric)
        monitor.run_for(args.baseline)
        base = (base0, time.time(), monitor.result())
        base_hist = lag_histogram(box)
        log(f"uploads: {args.uploads} concurrent uploads of {args.upload_rows} rows")
        monitor = Monitor(box, lag_metric)
        monitor.start()
        codes: Counter[str] = Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(len(files))
        seconds: list[float] = []

        def upload(data: bytes) -> None:
            barrier.wait()
            t = time.monotonic()
            # A client retries as Retry-After says until its own deadline, as a CRM would.
            while time.monotonic() - t < args.upload_deadline:
                try:
                    status, headers, _ = box.http_full(
                        "POST", "/campaigns/u/contacts/upload", data, content_type="text/csv",
                        timeout=900)  # fmt: skip
                except OSError as exc:
                    with lock:
                        codes[f"error: {type(exc).__name__}"] += 1
                    return
                with lock:
                    codes[str(status)] += 1
                if status not in (429, 503):
                    break
                retry_after = headers.get("Retry-After", "1")
                time.sleep(float(retry_after) if retry_after.replace(".", "").isdigit() else 1.0)
            with lock:
                seconds.append(time.monotonic() - t)

        t0 = time.time()
        threads = [threading.Thread(target=upload, args=(d,)) for d in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t1 = time.time()
        monitor.stop()
        loaded = monitor.result()
        loaded_hist = lag_histogram(box)
        events = read_journal(journal)
        stall_base = free_line_gaps(events, base[0], base[1])
        stall = free_line_gaps(events, t0, t1)
        if lag_metric:
            stall_ms = loop_stall_ms(box, base_hist, loaded_hist, t0, t1)
            base_ms = loop_stall_ms(box, base_hist0, base_hist, base0, base[1])
            source = (
                "daemon: dialbox_loop_lag_seconds histogram and its 'event loop was blocked' log"
            )
        else:
            stall_ms, source = stall["max_ms"], "journal: longest free-line wait (end -> next ATD)"
            base_ms = stall_base["max_ms"]
        busy_lines = [ln for ln in box.tail(10**9).splitlines() if "BusyError" in ln]
        imported = box.scalar(
            "SELECT count(*) FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
            " WHERE c.name = 'u'")  # fmt: skip
        box.stop()
        return {
            "upload_status_codes": dict(codes),
            "upload_seconds": {
                "max": round(max(seconds), 1) if seconds else None,
                "median": round(statistics.median(seconds), 1) if seconds else None,
            },
            "uploads_window_s": round(t1 - t0, 1),
            "rows_uploaded": args.uploads * args.upload_rows,
            "rows_in_db": int(imported),
            "busy_errors": len(busy_lines),
            "busy_error_examples": busy_lines[:3],
            "max_dial_loop_stall_ms": None if stall_ms is None else round(stall_ms),
            "stall_source": source,
            "stall_baseline_ms": None if base_ms is None else round(base_ms),
            "free_line_waits_during_uploads": stall,
            "healthz_max_ms": loaded["healthz_max_ms"],
            "healthz_baseline_max_ms": base[2]["healthz_max_ms"],
            "healthz_failures": loaded["healthz_failures"],
            "doctor": box.doctor(),
        }
    finally:
        box.stop()
        emulator.stop()


class Monitor(threading.Thread):
    """Polls /healthz (every 0.1 s: how long the daemon's event loop takes to answer) and, when
    the daemon has it, dialbox_loop_lag_seconds on /metrics (every 5 s)."""

    def __init__(self, box: Box, lag_metric: bool) -> None:
        super().__init__(daemon=True)
        self.box, self.lag_metric = box, lag_metric
        self.halt = threading.Event()
        self.healthz: list[float] = []
        self.failures = 0
        self.lag: list[float] = []

    def run_for(self, seconds: float) -> None:
        self.start()
        self.halt.wait(seconds)  # the measurement window itself
        self.stop()

    def stop(self) -> None:
        self.halt.set()
        self.join()

    def run(self) -> None:
        last_scrape = 0.0
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                status, _ = self.box.http("GET", "/healthz", timeout=60)
                if status != 200:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.healthz.append(time.monotonic() - t)
            if self.lag_metric and time.monotonic() - last_scrape >= 5:
                last_scrape = time.monotonic()
                with contextlib.suppress(OSError):
                    self.lag += [float(m) for m in re.findall(
                        r"^dialbox_loop_lag_seconds(?:_max)?(?:\{[^}]*\})? (\S+)$",
                        self.box.metrics(timeout=60), re.M)]  # fmt: skip
            self.halt.wait(0.1)

    def result(self) -> dict[str, Any]:
        return {
            "healthz_max_ms": round(max(self.healthz) * 1000) if self.healthz else None,
            "healthz_failures": self.failures,
            "loop_lag_max_s": max(self.lag) if self.lag else None,
        }


def lag_histogram(box: Box) -> dict[float, float]:
    """The daemon's dialbox_loop_lag_seconds buckets now: upper bound -> cumulative count."""
    out: dict[float, float] = {}
    for bound, count in re.findall(
        r'^dialbox_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', box.metrics(timeout=60), re.M
    ):
        out[float(bound)] = float(count)
    return out


def loop_stall_ms(
    box: Box, before: dict[float, float], after: dict[float, float], t0: float, t1: float
) -> float | None:
    """The event loop's longest lag in [t0, t1]: the daemon logs every lag of 250 ms or more
    with its figure; below that, the upper bound of the highest histogram bucket that grew."""
    logged = []
    for stamp, ms in re.findall(
        r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ WARNING \S+: the event loop was blocked for"
        r" (\d+) ms", box.tail(10**9), re.M,
    ):  # fmt: skip
        at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
        if t0 - 1 <= at <= t1 + 1:
            logged.append(float(ms))
    if logged:
        return max(logged)
    grew = [b for b in sorted(after) if after[b] - before.get(b, 0.0) > 0]
    below = [b for b in grew if after[b] - before.get(b, 0.0) == (
        after[max(after)] - before.get(max(after), 0.0))]  # fmt: skip
    return None if not below else min(below) * 1000


def free_line_gaps(events: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """How long modems stayed free between a call's end and their next ATD, for gaps that
    overlap [t0, t1] (the longest is the dial loop's worst stall there, plus the driver's
    few ms between calls)."""
    by_modem: dict[str, list[tuple[float, str]]] = {}
    for e in events:
        if e.get("event") in ("dial", "end") and "modem" in e:
            by_modem.setdefault(e["modem"], []).append((e["t"], e["event"]))
    gaps = []
    for items in by_modem.values():
        items.sort()
        free_since = None
        for t, event in items:
            if event == "end":
                free_since = t
            elif free_since is not None:
                if t >= t0 and free_since <= t1:
                    gaps.append(t - free_since)
                free_since = None
        if free_since is not None and free_since <= t1:
            gaps.append(t1 - max(free_since, t0))  # still free at the end of the window
    gaps.sort()
    return {
        "count": len(gaps),
        "max_ms": round(gaps[-1] * 1000) if gaps else None,
        "p50_ms": round(gaps[len(gaps) // 2] * 1000) if gaps else None,
        "p99_ms": round(gaps[max(0, math.ceil(0.99 * len(gaps)) - 1)] * 1000) if gaps else None,
    }


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phase", choices=("kills", "faults", "uploads", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="small figures (see above)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--kills", type=int, help="SIGKILLs of the daemon (default 50)")
    parser.add_argument("--contacts", type=int, help="campaign size (default 1000)")
    parser.add_argument("--modems", type=int, help="emulated modems (default 8)")
    parser.add_argument("--retry-delay", type=int, help="retry and requeue delay, s (20)")
    parser.add_argument("--max-attempts", type=int, default=3, help="kills phase (default 3)")
    parser.add_argument("--max-gap", type=float, default=8.0,
                        help="a kill lands 0.3..this many seconds after the daemon's spawn")  # fmt: skip
    parser.add_argument("--time-scale", type=float, default=0.05,
                        help="emulator delays multiplier for the campaigns (default 0.05)")  # fmt: skip
    parser.add_argument("--fault-repeats", type=int, help="trials per fault kind (default 3)")
    parser.add_argument("--down-timeout", type=float, default=60.0,
                        help="give up waiting for line down after this long (s)")  # fmt: skip
    parser.add_argument("--uploads", type=int, help="concurrent uploads (default 20)")
    parser.add_argument("--upload-rows", type=int, help="rows per upload (default 100000)")
    parser.add_argument("--upload-deadline", type=float, default=1200.0,
                        help="a client retries on 429/503 as Retry-After says for this long (s)")  # fmt: skip
    parser.add_argument("--baseline", type=float, default=10.0,
                        help="seconds of dialing measured before the uploads")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up waiting for the campaign to finish after this long (s)")  # fmt: skip
    parser.add_argument("--quiet", type=float, default=5.0,
                        help="finished: nothing changed for this long and nothing is due later")  # fmt: skip
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args(argv)
    quick = {"kills": 5, "contacts": 100, "modems": 4, "retry_delay": 5, "fault_repeats": 1,
             "uploads": 5, "upload_rows": 10_000}  # fmt: skip
    full = {"kills": 50, "contacts": 1000, "modems": 8, "retry_delay": 20, "fault_repeats": 3,
            "uploads": 20, "upload_rows": 100_000}  # fmt: skip
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    work = args.work or Path(tempfile.mkdtemp(prefix="dialbox-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"working in {work}")
    started = time.monotonic()
    phases = ("kills", "faults", "uploads") if args.phase == "all" else (args.phase,)
    report: dict[str, Any] = {
        "kills": None, "contacts_not_final": None, "modem_calls_missing_from_db": None,
        "duplicate_attempts": None, "attempts_in_flight_left": None,
        "answered_cut_recorded_connected": None,
        "line_down_seconds": {k: None for k in FAULTS},
        "upload_status_codes": None, "busy_errors": None, "max_dial_loop_stall_ms": None,
        "doctor": None, "seconds": None,
    }  # fmt: skip
    details: dict[str, Any] = {}
    doctors: dict[str, Any] = {}
    runners = {"kills": phase_kills, "faults": phase_faults, "uploads": phase_uploads}
    for phase in phases:
        t = time.monotonic()
        result = runners[phase](args, work / phase)
        result["phase_seconds"] = round(time.monotonic() - t, 1)
        doctors[phase] = result.pop("doctor")
        for key in list(result):
            if key in report:
                report[key] = result.pop(key)
        details[phase] = result
    report["doctor"] = None if all(d is None for d in doctors.values()) else doctors
    report["seconds"] = round(time.monotonic() - started, 1)
    report["settings"] = {k: v for k, v in vars(args).items() if k != "work"}
    report["details"] = details
    report["work"] = str(work)
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
