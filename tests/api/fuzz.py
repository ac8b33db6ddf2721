"""Schemathesis against the real daemon, as the API's clients are: one run per token scope
(admin, crm, agent), positive and negative data (`--mode all`), every operation of /openapi.json.
Shared by tests/api/test_openapi.py (a short run in `make test`) and bench/fuzz_api.py (a long
one). The checks: schemathesis's defaults but "valid data must be accepted" (see
schemathesis.toml) — among them not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCOPES = ("admin", "crm", "agent")
AGENT = "alice"  # the agent token's name: it acts on the agent of its own name only


AGENT_OWN_DESK = f"""
[[operations]]
include-path-regex = "^/agents/[{{]name[}}]"
parameters = {{ "path.name" = "{AGENT}" }}

# With a second path parameter beside the pinned name, schemathesis counts a name it meant to
# break as sent — but the agent's own name went, and the acknowledgement was rightly taken.
[[operations]]
include-path-regex = "^/agents/[{{]name[}}]/messages/[{{]id[}}]/ack$"
checks.negative_data_rejection.enabled = false
"""


@dataclass
class Box:
    daemon: DaemonProcess
    tokens: dict[str, str]  # scope -> token
    base: str


@contextmanager
def fuzz_box(tmp: Path) -> Iterator[Box]:
    """The daemon on one emulated GSM line, a token per scope, a campaign with a contact and the
    agent position of the agent token — something for the generated requests to find."""
    emulator = EmulatorProcess(tmp / "modems", 1, script="time_scale = 0.02\n", profile="simcom")
    daemon = DaemonProcess(tmp, lines_config(emulator.links) + ALWAYS_CALLABLE)
    db = tmp / "state" / "dialbox.db"
    names = {"admin": "fuzz-admin", "crm": "fuzz-crm", "agent": AGENT}
    tokens = {scope: make_token(db, names[scope], scope) for scope in SCOPES}
    try:
        daemon.start()
        daemon.expect("READY")
        box = Box(daemon, tokens, f"http://127.0.0.1:{daemon.port}")
        reseed(box)
        yield box
    finally:
        daemon.stop()
        emulator.stop()


def reseed(box: Box) -> None:
    """The campaign `seed` with a contact and the agent position of the agent token, again: an
    earlier run may have deleted them (its stateful phase follows GET /agents to DELETE)."""
    api = Api(box.base, box.tokens["admin"])
    created = api.post("/campaigns", {"name": "seed", "type": "automated"})
    assert created.status in (201, 409), created
    pushed = api.post("/campaigns/seed/contacts", {"phone1": "+12125550123", "bp1": "Ann"})
    assert pushed.status in (200, 201), pushed
    assert api.request("PUT", f"/agents/{AGENT}", {"group": "g"}).status in (200, 201)


def run(box: Box, scope: str, out: Path, *, max_examples: int, seed: int = 1,
        phases: str = "examples,coverage,fuzzing,stateful", timeout: float = 1800) -> dict[str, Any]:  # fmt: skip
    """One schemathesis run with the token of `scope`; its figures from the JSON and HAR reports:
    operations, requests, responses by status class, failures — and the text output."""
    out.mkdir(parents=True, exist_ok=True)
    reseed(box)
    config = CONFIG
    if scope == "agent":  # its agent's own desk; other names are a 403 the other runs also see
        config = out / "schemathesis.toml"
        config.write_text(CONFIG.read_text() + AGENT_OWN_DESK)
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
         f"{box.base}/openapi.json", "--header", f"Authorization: Bearer {box.tokens[scope]}",
         "--mode", "all", "--max-examples", str(max_examples), "--seed", str(seed),
         "--workers", "1", "--phases", phases, "--no-color", "--report", "json,har",
         "--report-json-path", str(out / "report.json"), "--report-har-path", str(out / "run.har")],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ, SCHEMATHESIS_HOOKS=""),
    )  # fmt: skip
    seconds = time.monotonic() - started
    report = json.loads((out / "report.json").read_text())
    entries = json.loads((out / "run.har").read_text())["log"]["entries"]
    statuses = Counter(int(e["response"]["status"]) for e in entries)
    classes = Counter(f"{status // 100}xx" for status in statuses.elements())
    return {
        "scope": scope,
        "exit_code": result.returncode,
        "seconds": round(seconds, 1),
        "operations": report["operations"]["tested"],
        "operations_total": report["operations"]["total"],
        "test_cases": report["test_cases"]["generated"],
        "requests": len(entries),
        "responses": dict(sorted(classes.items())),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failures": [_failure(f) for f in report["failures"]] + report["errors"],
        "output": result.stdout[-8000:] + result.stderr[-2000:],
    }


def _failure(failure: Any) -> Any:
    return failure if not isinstance(failure, dict) else {
        k: v for k, v in failure.items() if k in ("operation", "title", "check", "message", "status")
    } or failure  # fmt: skip
