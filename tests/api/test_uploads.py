"""Uploads while the daemon dials (issue #17 items 3 and 9): concurrent uploads are 200 or
503 with Retry-After, never 500; the reject report is capped and downloadable; the record
feed refuses a rejected record with 422."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.api.client import Api, make_token
from tests.daemon.campaign import box

AREAS = ("212", "312", "415", "206", "617", "305", "713", "907")


def upload_file(n: int, rows: int) -> bytes:
    lines = [
        f"({AREAS[i % 8]}) {200 + n:03d}-{i % 10000:04d},,,,,Upload {n} row {i}"
        for i in range(rows)
    ]
    lines.append("not a number,,,,,bad")
    return ("\n".join(lines) + "\n").encode()


def test_concurrent_uploads_while_dialing_are_2xx_or_503_with_retry_after(tmp_path: Path) -> None:
    with box(tmp_path, modems=2, contacts=200) as b:
        b.daemon.start()
        b.daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{b.daemon.port}", make_token(b.db_path, "crm", "crm"))

        def upload(n: int) -> tuple[int, dict[str, str], bytes]:
            reply = api.request("POST", "/campaigns/c/contacts/upload", raw=upload_file(n, 4000),
                                content_type="text/csv")  # fmt: skip
            return reply.status, reply.headers, reply.body

        with ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(upload, range(12)))
        statuses = [status for status, _, _ in replies]
        assert all(s == 200 or s in (429, 503) for s in statuses), replies
        assert all("Retry-After" in h for s, h, _ in replies if s != 200)
        landed = [json.loads(body) for s, _, body in replies if s == 200]
        assert landed and all(d["imported"] == 4000 and d["import_id"] for d in landed)
        assert "BusyError" not in b.daemon.output()

        first = landed[0]
        assert first["rejected"] == 1 and first["rejects_by_reason"] == {"not a phone number": 1}
        rejects = api.request("GET", first["rejects_url"])
        assert rejects.status == 200 and b"not a phone number" in rejects.body
        lines = api.request("GET", first["rejects_url"] + "?format=jsonl")
        assert json.loads(lines.body.splitlines()[0])["line"] == 4001

        refused = api.request("POST", "/campaigns/c/contacts", {"phone1": "not a number"})
        assert refused.status == 422, refused
        assert refused.json()["errors"][0]["message"] == "not a phone number"
