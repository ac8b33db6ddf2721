"""Call recordings (SPEC O9, #24): listed, described, streamed (with Range) and deleted.

Any token may read recordings; an agent token only those of calls it took (`agent` is the
token's own name): another's is a 403, and its list is filtered to its own. Deleting one is
for admin tokens. A recording whose file was deleted (retention, the API) or never made (the
recording failed), or whose file is missing from the disk, answers its audio with a 404 that
says which and why; its row still describes it."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.recordings import Recording
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, page_of
from appliance.api.times import iso_time, parse_time
from appliance.recording import recordings_directory
from appliance.recording.writers import CONTENT_TYPES
from appliance.store import recordings as store
from appliance.store.figures import Snapshot

ID = Param("id", "path", {"type": "integer", "minimum": 1}, True)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
AFTER = Param("after", "query", {"type": "integer", "minimum": 0, "default": 0},
              description="the cursor: `next` of the previous page")  # fmt: skip
TEXT = {"type": "string", "minLength": 1, "maxLength": 200}


def _agent_of(call: Call) -> str | None:
    """The agent an agent token is limited to; None for admin and crm tokens (and the socket)."""
    caller = call.caller
    if caller.scope == "agent":
        return caller.actor.removeprefix("api:")
    return None


def _directory(svc: Services) -> Path:
    return recordings_directory(svc.config())


def document(svc: Services, row: store.RecordingRow) -> dict[str, Any]:
    doc = row.as_dict(iso_time)
    doc.pop("path")
    doc["audio"] = f"/recordings/{row.id}/audio" if row.status == "complete" else None
    return doc


def _found(call: Call) -> store.RecordingRow:
    svc = services(call)
    row = store.get_recording(svc.db, call.path["id"])
    if row is None:
        raise Problem(404, f"there is no recording {call.path['id']}; GET /recordings lists them")
    mine = _agent_of(call)
    if mine is not None and row.agent != mine:
        raise Problem(
            403,
            f"an agent token reads only the recordings of calls its agent ({mine!r}) took; "
            f"recording {row.id} is not one of them",
        )
    return row


@API.op("GET", "/recordings", summary="Call recordings, oldest first, paged", tag="recordings",
        scope="any",
        params=[Param("campaign", "query", TEXT, description="only this campaign's"),
                Param("agent", "query", TEXT, description="only the calls this agent took"),
                Param("since", "query", {"type": "string", "minLength": 1, "maxLength": 64},
                      description="only those started at or after this instant (ISO 8601 with"
                                  " an offset)"),
                Param("status", "query", {"enum": list(store.STATUSES)},
                      description="complete (a file), failed (the call went unrecorded: `error`"
                                  " says why) or deleted"),
                AFTER, LIMIT],
        responses={200: ("a page of recordings", page_of(API.model(Recording)))},
        description="Keyset paging in id order: pass `next` as `after` until it is null. An"
                    " agent token sees only the calls its agent took (asking for another"
                    " agent's is a 403).")  # fmt: skip
async def list_recordings(call: Call) -> web.Response:
    svc = services(call)
    agent = call.query.get("agent")
    mine = _agent_of(call)
    if mine is not None:
        if agent is not None and agent != mine:
            raise Problem(403, f"an agent token lists only its own agent's recordings ({mine!r}),"
                               f" not {agent!r}'s")  # fmt: skip
        agent = mine
    since = parse_time(call.query["since"], "since") if "since" in call.query else None
    limit = call.query.get("limit", 100)
    rows = store.list_recordings(svc.db, campaign=call.query.get("campaign"), agent=agent,
                                 since=since, status=call.query.get("status"),
                                 after=call.query.get("after", 0), limit=limit)  # fmt: skip
    return web.json_response(
        {
            "items": [document(svc, r) for r in rows],
            "next": rows[-1].id if len(rows) == limit else None,
        }
    )


@API.op("GET", "/recordings/{id}", summary="One call recording", tag="recordings", scope="any",
        params=[ID], responses={200: ("the recording", Recording)},
        description="403 for an agent token and a call its agent did not take.")  # fmt: skip
async def get_recording(call: Call) -> web.Response:
    return web.json_response(document(services(call), _found(call)))


def _gone(row: store.RecordingRow, path: Path | None) -> Problem:
    """Why a recording has no audio to send, as a 404."""
    if row.status == "deleted":
        why = {
            "age": "it was older than recordings.retain_days",
            "budget": "the disk budget (recordings.budget_mb) needed the room; the oldest go first",
        }.get(row.deleted_why or "", f"{row.deleted_why} deleted it")
        detail = f"recording {row.id} was deleted at {iso_time(row.deleted_at)}: {why}"
    elif row.status == "failed":
        detail = f"recording {row.id} failed, so there is no audio: {row.error}"
    else:
        detail = (
            f"the file of recording {row.id} ({row.path}) is missing from the recordings "
            f"directory: it was moved or deleted outside dialbox; restore it from a backup "
            f"(its SHA-256 is {row.sha256}) or DELETE /recordings/{row.id}"
        )
    return Problem(404, detail, errors=[{"where": "recording", "message": row.status}])


@API.op("GET", "/recordings/{id}/audio", summary="A recording's audio file (Range requests welcome)",
        tag="recordings", scope="any", params=[ID],
        responses={200: ("the file: left channel the far end, right the box",
                         {"type": "string", "format": "binary"},
                         ("audio/flac", "audio/ogg", "audio/wav")),
                   206: ("the range asked for", {"type": "string", "format": "binary"},
                         ("audio/flac", "audio/ogg", "audio/wav"))},
        description="The stereo file as it was written (8 kHz; left: what the box heard, right:"
                    " what it said), with `Repr-Digest: sha-256=…` from the row. `Range:"
                    " bytes=…` is answered 206 (a player seeks). 404 saying why when the"
                    " recording was deleted, failed, or its file is missing; 403 for an agent"
                    " token and another agent's call.")  # fmt: skip
async def get_audio(call: Call) -> web.StreamResponse:
    row = _found(call)
    if row.status != "complete" or row.path is None:
        raise _gone(row, None)
    path = _directory(services(call)) / row.path
    if not await asyncio.to_thread(path.is_file):
        raise _gone(row, path)
    headers = {
        "Content-Type": CONTENT_TYPES.get(row.format, "application/octet-stream"),
        "Content-Disposition": f'attachment; filename="recording-{row.id}{path.suffix}"',
        "Cache-Control": "private, no-store",
    }
    if row.sha256:
        digest = base64.b64encode(bytes.fromhex(row.sha256)).decode()
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return web.FileResponse(path, headers=headers)


@API.op("DELETE", "/recordings/{id}", summary="Delete a recording's file (the row stays, marked deleted)",
        tag="recordings", scope="admin", params=[ID],
        responses={200: ("the recording, deleted", Recording)},
        description="The file is removed and the row marked deleted (who, when), audited. 404"
                    " when there is no such recording or it has no file to delete (failed,"
                    " deleted already).")  # fmt: skip
async def delete_recording(call: Call) -> web.Response:
    svc = services(call)
    row = _found(call)
    if row.status != "complete" or row.path is None:
        raise _gone(row, None)
    path = _directory(svc) / row.path
    note = None
    try:
        await asyncio.to_thread(path.unlink)
    except FileNotFoundError:
        note = f"the file {row.path} was already gone when it was deleted over the API"
    except OSError as exc:
        raise Problem(
            409,
            f"the file of recording {row.id} cannot be deleted ({exc.strerror}); give the daemon "
            f"write access to {path.parent}",
        ) from None
    done = store.mark_deleted(svc.db, row.id, svc.clock.now(), call.caller.actor,
                              actor=call.caller.actor, note=note)  # fmt: skip
    if done is None:
        raise _gone(store.get_recording(svc.db, row.id) or row, None)
    if svc.metrics is not None:
        svc.metrics.recordings_deleted.labels("api").inc()
    return web.json_response(document(svc, done))


DAY = 86400.0


def recordings_section(
    svc: Services, now: float, figures: Snapshot | None = None
) -> dict[str, Any]:
    """/status's `recordings`: the last 24 hours' counts, and alerts saying what to do. Those
    started (a failure among them) are read now; those deleted and the bytes kept come from
    the scanned figures' snapshot when given (store/figures.py, as old as it says)."""
    counts = (
        {**store.started_since(svc.db, now - DAY), **figures.recordings_deleted_24h}
        if figures
        else store.counts_since(svc.db, now - DAY)
    )
    failure = store.last_failure(svc.db)
    alerts = []
    if counts["failed"]:
        alerts.append(
            f"{counts['failed']} call recordings failed in the last 24 hours (the calls went on"
            f" unrecorded); the last: {failure.error if failure else '?'}; GET"
            " /recordings?status=failed lists them"
        )
    if counts.get("deleted_budget"):
        alerts.append(
            f"the disk budget (recordings.budget_mb) forced the deletion of"
            f" {counts['deleted_budget']} recordings in the last 24 hours before their"
            " retain_days: raise budget_mb or lower retain_days"
        )
    return {
        "last_24h": counts,
        "kept_bytes": figures.recordings_kept_bytes if figures else store.kept_bytes(svc.db),
        "last_failure": None
        if failure is None
        else {"id": failure.id, "started_at": iso_time(failure.started_at), "error": failure.error},
        "alerts": alerts,
    }
