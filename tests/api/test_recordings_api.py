"""Call recordings over real HTTP (SPEC O9, #24): listed with filters and paging, described,
streamed with the right type and checksum, in ranges, deleted by an admin — and the refusals:
an agent token reads only the calls its agent took (403 otherwise, its list filtered), a crm
token cannot delete, a deleted, failed or missing file is a 404 that says which and why."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig, RecordingSettings
from appliance.drivers.audio import LoopbackChannel, frames_of
from appliance.recording.recorder import Recorder, RecordingInfo
from appliance.store import open_database
from appliance.store.db import Database
from appliance.store.tokens import create_token
from tests.daemon.process import free_port
from tests.recording.sound import numbered

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@dataclass
class Box:
    db: Database
    clock: ManualClock
    base: str
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    recorder: Recorder
    directory: Path

    async def call(self, method: str, path: str, who: str = "crm",
                   headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        sent = {"Authorization": f"Bearer {self.tokens[who]}", **(headers or {})}
        async with self.session.request(method, self.base + path, headers=sent) as r:
            body = await r.read()
            if r.content_type in ("application/json", "application/problem+json"):
                import json

                return r.status, json.loads(body), dict(r.headers)
            return r.status, body, dict(r.headers)

    async def record(self, attempt: int, agent: str | None, frames: int = 100,
                     campaign: str = "spring") -> RecordingInfo:  # fmt: skip
        channel = LoopbackChannel("gsm1")
        recording = self.recorder.start(channel, attempt_id=attempt, campaign=campaign,
                                        line="gsm1", number="+48601234567", agent=agent,
                                        direction="outbound")  # fmt: skip
        await asyncio.sleep(0)
        for i, frame in enumerate(frames_of(numbered(frames, seed=attempt))):
            channel.feed(frame)
            if i % 10 == 0:
                await asyncio.sleep(0)
        info = await recording.stop()
        assert info is not None and info.status == "complete", info
        return info


@asynccontextmanager
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    clock = ManualClock(NOW)
    directory = tmp_path / "rec"
    config = DialboxConfig(database=tmp_path / "d.db", region="PL", api=ApiSettings(port=free_port()),
                           recordings=RecordingSettings(directory=directory))  # fmt: skip
    tokens = {name: create_token(db, name, scope, NOW, "test")  # type: ignore[arg-type]
              for name, scope in (("admin", "admin"), ("crm", "crm"), ("anna", "agent"),
                                  ("ben", "agent"))}  # fmt: skip
    server = HttpServer(create_app(Services(db=db, clock=clock, config=lambda: config)), config.api)
    await server.start()
    recorder = Recorder(db, config.recordings, directory, clock)
    try:
        async with aiohttp.ClientSession() as session:
            yield Box(db, clock, f"http://127.0.0.1:{server.port}", session, tokens, recorder,
                      directory)  # fmt: skip
    finally:
        await server.stop()
        db.close()


def test_an_agent_token_reads_only_the_calls_its_agent_took(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            annas = await b.record(1, "anna")
            bens = await b.record(2, "ben")
            nobodys = await b.record(3, None)

            status, page, _ = await b.call("GET", "/recordings", "anna")
            assert status == 200 and [r["id"] for r in page["items"]] == [annas.id], page
            status, page, _ = await b.call("GET", "/recordings", "crm")
            assert [r["id"] for r in page["items"]] == [annas.id, bens.id, nobodys.id]

            for path in (f"/recordings/{bens.id}", f"/recordings/{bens.id}/audio",
                         f"/recordings/{nobodys.id}/audio", "/recordings?agent=ben"):  # fmt: skip
                status, problem, _ = await b.call("GET", path, "anna")
                assert status == 403, (path, status, problem)
                assert "agent token" in problem["detail"] and "anna" in problem["detail"]
            status, body, _ = await b.call("GET", f"/recordings/{annas.id}/audio", "anna")
            assert status == 200 and body == annas.path.read_bytes()  # type: ignore[union-attr]
            status, body, _ = await b.call("GET", f"/recordings/{bens.id}/audio", "ben")
            assert status == 200 and body == bens.path.read_bytes()  # type: ignore[union-attr]

            # deleting is an admin's: not an agent's, not a CRM's
            for who in ("anna", "crm"):
                status, problem, _ = await b.call("DELETE", f"/recordings/{annas.id}", who)
                assert status == 403 and "admin" in problem["detail"], problem
            assert annas.path is not None and annas.path.exists()
            # no token, a wrong one
            async with b.session.get(f"{b.base}/recordings/{annas.id}/audio") as r:
                assert r.status == 401
            async with b.session.get(f"{b.base}/recordings",
                                     headers={"Authorization": "Bearer dbx_nope"}) as r:  # fmt: skip
                assert r.status == 401

    asyncio.run(scenario())


def test_the_audio_streams_with_its_type_checksum_and_ranges(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            info = await b.record(5, "anna", frames=300)
            assert info.path is not None
            whole = info.path.read_bytes()
            status, doc, _ = await b.call("GET", f"/recordings/{info.id}")
            assert (
                status == 200 and doc["sha256"] == info.sha256 == hashlib.sha256(whole).hexdigest()
            )
            assert doc["audio"] == f"/recordings/{info.id}/audio" and "path" not in doc
            assert (doc["started_at"], doc["duration"], doc["status"], doc["format"]) == (
                "2027-01-15T08:00:00.000Z", 6.0, "complete", "flac")  # fmt: skip

            status, body, headers = await b.call("GET", doc["audio"])
            assert status == 200 and body == whole
            assert headers["Content-Type"] == "audio/flac"
            assert headers["Accept-Ranges"] == "bytes"
            assert headers["Repr-Digest"] == (
                f"sha-256=:{base64.b64encode(hashlib.sha256(whole).digest()).decode()}:"
            )
            status, body, headers = await b.call("GET", doc["audio"],
                                                 headers={"Range": "bytes=100-299"})  # fmt: skip
            assert status == 206 and body == whole[100:300]
            assert headers["Content-Range"] == f"bytes 100-299/{len(whole)}"
            status, body, _ = await b.call("GET", doc["audio"], headers={"Range": "bytes=-64"})
            assert status == 206 and body == whole[-64:]
            status, body, _ = await b.call("GET", doc["audio"], headers={"Range": "bytes=10-"})
            assert status == 206 and body == whole[10:]
            status, _, headers = await b.call(
                "GET", doc["audio"], headers={"Range": f"bytes={len(whole) + 10}-"}
            )
            assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
            for garbage in ("bytes=abc", "bytes=50-10", "lines=1-2", "bytes=--1", "bytes=1-2-3"):
                status, body, _ = await b.call("GET", doc["audio"], headers={"Range": garbage})
                assert status in (200, 400, 416), (garbage, status)  # never a 500
                if status == 200:  # a Range it cannot read is ignored, as RFC 9110 allows
                    assert body == whole, garbage

    asyncio.run(scenario())


def test_a_deleted_failed_or_missing_file_is_a_404_that_says_why(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            deleted = await b.record(1, "anna")
            missing = await b.record(2, "anna")
            status, doc, _ = await b.call("DELETE", f"/recordings/{deleted.id}", "admin")
            assert status == 200 and doc["status"] == "deleted", doc
            assert doc["deleted_why"] == "api:admin" and doc["audio"] is None
            assert deleted.path is not None and not deleted.path.exists()
            status, problem, _ = await b.call("GET", f"/recordings/{deleted.id}/audio")
            assert status == 404 and "was deleted at 2027-01-15T08:00:00.000Z" in problem["detail"]
            status, problem, _ = await b.call("DELETE", f"/recordings/{deleted.id}", "admin")
            assert status == 404 and "was deleted" in problem["detail"]
            status, doc, _ = await b.call("GET", f"/recordings/{deleted.id}")
            assert status == 200 and doc["status"] == "deleted"  # the row stays

            assert missing.path is not None
            missing.path.unlink()  # someone tidied the disk by hand
            status, problem, _ = await b.call("GET", f"/recordings/{missing.id}/audio", "anna")
            assert status == 404, problem
            assert "missing from the recordings directory" in problem["detail"]
            assert missing.sha256 in problem["detail"]  # type: ignore[operator]

            b.db.conn.execute(
                "UPDATE recordings SET status = 'failed', path = NULL, sha256 = NULL,"
                " error = 'No space left on device: free space' WHERE id = ?", (missing.id,)
            )  # fmt: skip
            status, problem, _ = await b.call("GET", f"/recordings/{missing.id}/audio")
            assert status == 404 and "failed, so there is no audio: No space" in problem["detail"]

            status, problem, _ = await b.call("GET", "/recordings/999/audio")
            assert status == 404 and "no recording 999" in problem["detail"]
            status, problem, _ = await b.call("GET", "/recordings/abc")
            assert status in (404, 422), problem

    asyncio.run(scenario())


def test_the_list_filters_and_pages(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            made = []
            for attempt in range(1, 6):
                made.append(await b.record(attempt, "anna" if attempt % 2 else "ben", frames=10,
                                           campaign="spring" if attempt < 4 else "autumn"))  # fmt: skip
                b.clock.advance(3600)
            ids = [m.id for m in made]
            status, page, _ = await b.call("GET", "/recordings?limit=2")
            assert status == 200 and [r["id"] for r in page["items"]] == ids[:2]
            status, page, _ = await b.call("GET", f"/recordings?limit=2&after={page['next']}")
            assert [r["id"] for r in page["items"]] == ids[2:4] and page["next"] == ids[3]
            status, page, _ = await b.call("GET", f"/recordings?limit=2&after={page['next']}")
            assert [r["id"] for r in page["items"]] == ids[4:] and page["next"] is None
            status, page, _ = await b.call("GET", "/recordings?campaign=autumn")
            assert [r["id"] for r in page["items"]] == ids[3:]
            status, page, _ = await b.call("GET", "/recordings?agent=ben")
            assert [r["id"] for r in page["items"]] == [ids[1], ids[3]]
            status, page, _ = await b.call("GET", "/recordings?since=2027-01-15T10:00:00Z")
            assert [r["id"] for r in page["items"]] == ids[2:]
            status, page, _ = await b.call("GET", "/recordings?since=2027-01-15T10:00:00Z", "anna")
            assert [r["id"] for r in page["items"]] == [ids[2], ids[4]]
            status, problem, _ = await b.call("GET", "/recordings?since=yesterday")
            assert status == 422 and "ISO 8601" in problem["detail"]
            status, problem, _ = await b.call("GET", "/recordings?status=lost")
            assert status == 422
            status, page, _ = await b.call("GET", "/recordings?status=failed")
            assert status == 200 and page["items"] == []

    asyncio.run(scenario())


def test_status_shows_failed_recordings_and_forced_deletions_with_what_to_do(
    tmp_path: Path,
) -> None:
    from appliance.recording.retention import Retention
    from appliance.store.recordings import insert_recording

    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, doc, _ = await b.call("GET", "/status")
            assert status == 200 and doc["recordings"]["alerts"] == [], doc["recordings"]
            kept = await b.record(1, "anna")
            failed = insert_recording(
                b.db, attempt_id=2, campaign="spring", line="gsm1", number="+48601234567",
                agent="anna", direction="outbound", started_at=NOW, duration=30.0, path=None,
                format="flac", bytes=0, sha256=None, status="failed",
                error="No space left on device: free space on /var/lib/dialbox/recordings's disk",
            )  # fmt: skip
            b.clock.advance(3600)
            settings = RecordingSettings(directory=b.directory, budget_mb=1)
            big = b.directory / "2027/01/15/3-gsm1.flac"
            big.write_bytes(bytes(2 * 1024 * 1024))  # a 2 MB recording over a 1 MB budget
            insert_recording(b.db, attempt_id=3, campaign="spring", line="gsm1", number="+1",
                             agent=None, direction="inbound", started_at=NOW + 1, duration=60.0,
                             path="2027/01/15/3-gsm1.flac", format="flac", bytes=2 * 1024 * 1024,
                             sha256="0" * 64, status="complete")  # fmt: skip
            report = Retention(b.db, settings, b.directory, b.clock).run_once()
            assert report.deleted_budget and report.alert

            status, doc, _ = await b.call("GET", "/status")
            section = doc["recordings"]
            assert section["last_24h"]["failed"] == 1 and section["last_24h"]["deleted_budget"] >= 1
            assert section["last_failure"]["id"] == failed
            assert "No space left on device" in section["last_failure"]["error"]
            failed_alert, budget_alert = section["alerts"]
            assert "1 call recordings failed" in failed_alert and "status=failed" in failed_alert
            assert "raise budget_mb or lower retain_days" in budget_alert
            status, page, _ = await b.call("GET", "/recordings?status=failed", "anna")
            assert [r["id"] for r in page["items"]] == [failed]
            assert page["items"][0]["error"].startswith("No space left on device")
            assert kept.id not in [r["id"] for r in page["items"]]

    asyncio.run(scenario())
