"""Property-based API testing: schemathesis, against /openapi.json of the running daemon with an
emulated line, finds no 5xx and no response that breaks the document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config


def test_the_document_is_valid_openapi_3_1(tmp_path: Path) -> None:
    from appliance.api import campaigns, contacts, dnc, lines, setup, system  # noqa: F401
    from appliance.api.registry import API

    document = API.document()
    assert document["openapi"] == "3.1.0"
    # Every schema in it is a valid JSON Schema 2020-12 (what OpenAPI 3.1 uses).
    for name, schema in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    operations = [(m, p) for p, item in document["paths"].items() for m in item]
    assert ("post", "/campaigns") in operations and ("get", "/results") in operations
    assert len(
        {item[m]["operationId"] for p, item in document["paths"].items() for m in item}
    ) == len(operations)


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    emulator = EmulatorProcess(
        tmp_path / "modems", 1, script="time_scale = 0.02\n", profile="simcom"
    )
    daemon = DaemonProcess(tmp_path, lines_config(emulator.links) + ALWAYS_CALLABLE)
    token = make_token(tmp_path / "state" / "dialbox.db", "fuzzer", "admin")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        assert api.post("/campaigns", {"name": "seed", "type": "automated"}).status == 201
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(Path(__file__).with_name("schemathesis.toml")), "run",
             f"http://127.0.0.1:{daemon.port}/openapi.json",
             "--header", f"Authorization: Bearer {token}",
             "--max-examples", "15", "--workers", "1", "--seed", "1",
             "--phases", "examples,coverage,fuzzing,stateful", "--no-color"],
            capture_output=True, text=True, timeout=600, env=dict(os.environ, SCHEMATHESIS_HOOKS=""),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        # The daemon survived the run and still answers.
        assert api.get("/status").status == 200
        assert json.loads(api.get("/healthz").body)["status"] == "ok"
        # The fuzzer's own token was never refused: its probes without a token did not get its
        # address limited (docs/api.md, failed authentications), so every operation was tried.
        metrics = api.get("/metrics").body.decode()
        assert 'dialbox_auth_failures_total{reason="limited"} 0.0' in metrics, [
            line for line in metrics.splitlines() if line.startswith("dialbox_auth_failures")
        ]
    finally:
        daemon.stop()
        emulator.stop()
