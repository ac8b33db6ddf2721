"""Benchmark: a long schemathesis run over every operation of /openapi.json (issue #18).

Starts an emulated GSM line and the real `dialbox run`, then runs schemathesis once per token
scope (admin, crm, agent) with positive and negative data (`--mode all`), every phase, the checks
of tests/api/schemathesis.toml (not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance and the others but "valid data must be
accepted"). Prints one JSON document: per scope and in total the operations, requests, responses
by status class and the failures. Target: no 5xx, no failure. The short run of `make test` is
tests/api/test_openapi.py.

    .venv/bin/python bench/fuzz_api.py [--max-examples 100] [--seed 1] [--scopes admin,crm,agent]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.fuzz import SCOPES, fuzz_box, run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scopes", default=",".join(SCOPES))
    args = parser.parse_args()
    runs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, fuzz_box(Path(tmp)) as box:
        for scope in args.scopes.split(","):
            result = run(box, scope, Path(tmp) / scope, max_examples=args.max_examples,
                         seed=args.seed)  # fmt: skip
            output = result.pop("output")
            if result["exit_code"] != 0:
                result["output_tail"] = output[-3000:]
            runs.append(result)
        server_errors = box.daemon.output().count("ERROR appliance.api")
    responses: Counter[str] = Counter()
    for result in runs:
        responses.update(result["responses"])
    print(json.dumps({
        "max_examples": args.max_examples,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
        "operations": max(r["operations"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "responses": dict(sorted(responses.items())),
        "failures": sum(len(r["failures"]) for r in runs),
        "server_errors_logged": server_errors,
        "runs": runs,
    }, indent=1))  # fmt: skip
    return 0 if all(r["exit_code"] == 0 and not r["failures"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
