"""Line resources (SPEC H6, O3): status with signal and the call each carries, enable/disable,
a test call and a test SMS through the running daemon's own line."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.lines import CallResult, Line, SmsResult, TestCall, TestSms
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call
from appliance.drivers.line import LineError
from appliance.engine.linepool import Slot
from appliance.phones import InvalidPhone, normalize


def describe(slot: Slot, now: float) -> dict[str, Any]:
    health = slot.line.health()
    up = slot.up and health.up
    state = (
        "disabled" if slot.disabled else ("busy" if slot.busy and up else ("up" if up else "down"))
    )
    return {
        "name": slot.name,
        "kind": slot.config.kind,
        "device": slot.config.device,
        "state": state,
        "enabled": not slot.disabled,
        "signal_dbm": health.signal_dbm,
        "operator": health.operator,
        "registration": health.registration,
        "sim": health.sim,
        "campaign": slot.campaign,
        "call_seconds": round(now - slot.since, 1) if slot.since is not None else None,
        "last_error": slot.last_error or health.last_error,
        "campaigns": list(slot.config.campaigns),
        "audio": slot.line.capabilities.audio,
        "audio_path": slot.line.describe_audio(),
        "conference": list(slot.line.capabilities.conference),
        "conference_path": slot.line.describe_conference(),
    }


def _pool(svc: Services) -> Any:
    if svc.engine is None:
        raise Problem(503, "no dial engine runs in this process")
    return svc.engine.pool


def _slot(svc: Services, name: str) -> Slot:
    slot: Slot | None = _pool(svc).slot(name)
    if slot is None:
        names = ", ".join(s.name for s in _pool(svc).slots) or "none configured"
        raise Problem(404, f"no line named {name!r}; lines: {names}")
    return slot


@API.op("GET", "/lines", summary="Every line: state, signal, the call it carries, last error",
        tag="lines", scope="floor", responses={200: ("the lines", list[Line])})  # fmt: skip
async def list_lines(call: Call) -> web.Response:
    svc = services(call)
    now = svc.clock.now()
    return web.json_response([describe(s, now) for s in _pool(svc).slots])


@API.op("GET", "/lines/{name}", summary="One line", tag="lines", scope="crm",
        responses={200: ("the line", Line)})  # fmt: skip
async def get_line(call: Call) -> web.Response:
    svc = services(call)
    return web.json_response(describe(_slot(svc, call.path["name"]), svc.clock.now()))


def _toggle(action: str, disabled: bool) -> None:
    async def toggle(call: Call) -> web.Response:
        from appliance.store.campaigns import audit

        svc = services(call)
        slot = _slot(svc, call.path["name"])
        if slot.disabled != disabled:
            _pool(svc).set_disabled(slot, disabled)
            with svc.db.transaction():
                audit(svc.db, call.caller.actor, f"line.{action}", slot.name, {}, svc.clock.now())
        return web.json_response(describe(slot, svc.clock.now()))

    toggle.__name__ = f"{action}_line"
    API.op("POST", f"/lines/{{name}}/{action}", tag="lines", scope="admin",
           summary=f"{action.capitalize()} a line (a call in progress finishes first)",
           responses={200: ("the line", Line)})(toggle)  # fmt: skip


_toggle("enable", False)
_toggle("disable", True)


def _claim(svc: Services, slot: Slot, number: str) -> str:
    if not (slot.up and slot.line.health().up):
        raise Problem(409, f"line {slot.name} is down: {slot.last_error or 'not answering'}")
    if slot.busy:
        raise Problem(409, f"line {slot.name} carries a call; try again when it ends")
    try:
        e164 = normalize(number, svc.config().region)
    except InvalidPhone as exc:
        raise Problem(422, f"{number!r} is not a phone number: {exc}") from None
    slot.busy = True
    slot.since = svc.clock.now()
    slot.campaign = None
    return e164


def _release(slot: Slot) -> None:
    slot.busy = False
    slot.since = None


@API.op("POST", "/lines/{name}/test-call", summary="Place a test call on the line", tag="lines",
        scope="admin", body=TestCall, responses={200: ("its outcome with the modem's evidence", CallResult)})  # fmt: skip
async def test_call(call: Call[TestCall]) -> web.Response:
    svc = services(call)
    slot = _slot(svc, call.path["name"])
    number = _claim(svc, slot, call.body.number)
    try:
        result = await slot.line.dial(number, call.body.ring_timeout)
        if not result.ended:
            with contextlib.suppress(TimeoutError):
                ended = await asyncio.wait_for(slot.line.wait_call_end(), call.body.hold)
                result = ended or result
            if not result.ended:
                result = (await slot.line.hang_up()) or result
    except LineError as exc:
        raise Problem(409, f"line {slot.name}: {exc}") from None
    finally:
        _release(slot)
    return web.json_response(result.to_dict())


@API.op("POST", "/lines/{name}/test-sms", summary="Send a test SMS from the line", tag="lines",
        scope="admin", body=TestSms, responses={200: ("sent or failed, with references", SmsResult)})  # fmt: skip
async def test_sms(call: Call[TestSms]) -> web.Response:
    svc = services(call)
    slot = _slot(svc, call.path["name"])
    number = _claim(svc, slot, call.body.number)
    try:
        result = await slot.line.send_sms(number, call.body.text)
    except LineError as exc:
        raise Problem(409, f"line {slot.name}: {exc}") from None
    finally:
        _release(slot)
    return web.json_response(result.to_dict())
