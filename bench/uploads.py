"""Benchmark: 20 concurrent 100k-row uploads while a campaign dials (issue #17 item 3).

Starts emulated modems and the real `dialbox run` with a running campaign (tests/daemon/campaign
`box`), sends 20 uploads of 100,000 rows each at once over HTTP (a 503/429 is sent again after
its Retry-After), and reads from the daemon its loop-lag maximum (/healthz, also the metric
dialbox_loop_lag_max_seconds) and from its log the BusyErrors. Prints one JSON document.
Targets: longest dial-loop stall < 250 ms, no BusyError, every import landed whole.

    .venv/bin/python bench/uploads.py [--uploads 20] [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.client import Api, make_token
from tests.daemon.campaign import box

AREAS = ("212", "312", "415", "206", "617", "305", "713", "907", "602", "303")


def upload_file(n: int, rows: int) -> bytes:
    return "".join(
        f"({AREAS[i % 10]}) {200 + n:03d}-{i // 10 % 10000:04d},,,,,Upload {n},{i}\n"
        for i in range(rows)
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    files = [upload_file(n, args.rows) for n in range(args.uploads)]
    with tempfile.TemporaryDirectory() as tmp, box(Path(tmp), modems=4, contacts=500) as b:
        b.daemon.start()
        b.daemon.expect("READY")
        base = f"http://127.0.0.1:{b.daemon.port}"
        api = Api(base, make_token(b.db_path, "bench", "crm"))
        before = json.loads(urllib.request.urlopen(base + "/healthz").read())
        attempts_before = b.query("SELECT count(*) FROM attempts")[0][0]

        def upload(n: int) -> dict[str, object]:
            statuses = []
            while True:
                reply = api.request("POST", "/campaigns/c/contacts/upload", raw=files[n],
                                    content_type="text/csv")  # fmt: skip
                statuses.append(reply.status)
                if reply.status in (429, 503) and "Retry-After" in reply.headers:
                    time.sleep(float(reply.headers["Retry-After"]))  # the server said so
                    continue
                doc = reply.json() if reply.status == 200 else {}
                return {"statuses": statuses, "imported": doc.get("imported"),
                        "import_id": doc.get("import_id")}  # fmt: skip

        started = time.monotonic()
        with ThreadPoolExecutor(args.uploads) as pool:
            results = list(pool.map(upload, range(args.uploads)))
        seconds = time.monotonic() - started
        health = json.loads(urllib.request.urlopen(base + "/healthz").read())
        attempts_after = b.query("SELECT count(*) FROM attempts")[0][0]
        landed = b.query(
            "SELECT i.id, i.status, i.imported, (SELECT count(*) FROM contacts k"
            " WHERE k.import_id = i.id) FROM imports i WHERE i.source = 'api upload'"
        )
        log = b.daemon.output()
    codes: dict[str, int] = {}
    for result in results:
        for status in result["statuses"]:  # type: ignore[attr-defined]
            codes[str(status)] = codes.get(str(status), 0) + 1
    whole = sum(
        1 for _, status, imported, n in landed if status == "done" and imported == n == args.rows
    )
    document = {
        "uploads": args.uploads,
        "rows_each": args.rows,
        "seconds": round(seconds, 1),
        "status_codes": codes,
        "final_statuses": sorted(r["statuses"][-1] for r in results),  # type: ignore[index]
        "loop_lag_max_ms_before": round(before.get("loop_lag_max_seconds", 0) * 1000, 1),
        "loop_lag_max_ms": round(health.get("loop_lag_max_seconds", 0) * 1000, 1),
        "busy_errors_in_log": log.count("BusyError"),
        "imports_landed_whole": whole,
        "attempts_during": int(str(attempts_after)) - int(str(attempts_before)),
        "targets": {
            "loop_lag<250ms": health.get("loop_lag_max_seconds", 1) < 0.25,
            "no_busy_error": log.count("BusyError") == 0,
            "all_landed": whole == args.uploads,
        },
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
