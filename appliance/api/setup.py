"""First-run setup for the console (SPEC O4): the serial ports found and what answers on each,
the box's region, compliance profile and calling hours, and API tokens."""

from __future__ import annotations

import glob
import os
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.models.setup import (
    Probe,
    Setup,
    SetupChange,
    SetupChanged,
    TokenCreate,
    TokenCreated,
)
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call
from appliance.api.times import iso_fields
from appliance.drivers.line import LineError
from appliance.store.tokens import create_token, list_tokens

BY_ID = "/dev/serial/by-id"

_TOKEN_TIMES = ("created_at", "revoked_at", "last_used_at", "expires_at")


def _ports(svc: Any) -> list[dict[str, Any]]:
    configured = {line.device: line.name for line in svc.config().lines}
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(BY_ID, "*"))):
        found[path] = {
            "device": path,
            "target": os.path.realpath(path),
            "configured_as": configured.get(path),
        }
    for device, name in configured.items():
        found.setdefault(
            device, {"device": device, "target": os.path.realpath(device), "configured_as": name}
        )
    for item in found.values():
        item["present"] = os.path.exists(item["device"])
    return list(found.values())


@API.op("GET", "/setup", summary="What first-run setup needs: config, serial ports, tokens",
        tag="setup", scope="admin", responses={200: ("the box as configured", Setup)})  # fmt: skip
async def get_setup(call: Call) -> web.Response:
    from appliance.engine.storeplanner import StorePlanner

    svc = services(call)
    config = svc.config()
    hours = StorePlanner(config, svc.db).box_profile().calling_hours.describe()
    return web.json_response(
        {
            "config": {
                "region": config.region,
                "timezone": config.timezone,
                "compliance_profile": config.compliance_profile,
                "calling_hours": hours,
                # where `calling_hours` comes from: the custom profile's own hours, or a named
                # profile's narrowed by the box's (compliance.profile)
                "box_hours": f"{config.calling_hours.start:%H:%M}-{config.calling_hours.end:%H:%M}",
                "custom_calling_hours": config.compliance.calling_hours,
                "holidays_country": config.holidays_country,
                "lines": [
                    {"name": line.name, "kind": line.kind, "device": line.device}
                    for line in config.lines
                ],
            },
            "ports": _ports(svc),
            "tokens": [iso_fields(t.as_dict(), _TOKEN_TIMES) for t in list_tokens(svc.db)],
        }
    )


@API.op("PATCH", "/setup", summary="Change region, time zone, profile, calling hours, line names",
        tag="setup", scope="admin", body=SetupChange,
        responses={200: ("the config file was changed and reloaded", SetupChanged)},
        description="The file keeps its comments; the change is validated like `dialbox check-config` "
                    "before the file is replaced, then the daemon reloads it. New or renamed lines "
                    "take effect at the next restart.")  # fmt: skip
async def change_setup(call: Call[SetupChange]) -> web.Response:
    from appliance.config import ConfigError
    from appliance.config.edit import edit_config
    from appliance.store.campaigns import audit

    svc = services(call)
    if svc.config_path is None:
        raise Problem(409, "this daemon runs on a built-in config (the demo or defaults), not a file: "
                      "there is nothing to change; write /etc/dialbox/dialbox.yaml instead")  # fmt: skip
    change = call.body.model_dump(exclude_unset=True)  # omitted keys stay as they are
    try:
        config, restart = edit_config(svc.config_path, change)
    except ConfigError as exc:
        raise Problem(422, "the change would make the config invalid, nothing was written: "
                      + "; ".join(str(p) for p in exc.problems)) from None  # fmt: skip
    except OSError as exc:
        raise Problem(409, f"cannot write {svc.config_path}: {exc.strerror}") from None
    with svc.db.transaction():
        audit(
            svc.db,
            call.caller.actor,
            "config.change",
            str(svc.config_path),
            change,
            svc.clock.now(),
        )
    if svc.reload is not None and (reloading := svc.reload()) is not None:
        await reloading
    return web.json_response({"restart_needed": restart, "region": config.region,
                              "compliance_profile": config.compliance_profile})  # fmt: skip


@API.op("POST", "/setup/probe", summary="Identify what answers on a serial port: model, SIM, signal",
        tag="setup", scope="admin", body=Probe, responses={200: ("the modem's identity and state", dict[str, Any])})  # fmt: skip
async def probe(call: Call[Probe]) -> web.Response:
    from appliance.drivers.gsm.modem import GsmModem

    svc = services(call)
    device = call.body.device
    engine = svc.engine
    for slot in engine.pool.slots if engine is not None else []:
        if slot.config.device == device:  # the daemon holds this port: ask its driver
            report = getattr(slot.line, "probe_report", None)
            if not slot.up or report is None:
                raise Problem(
                    409,
                    f"{device} is line {slot.name}, which is down: {slot.last_error or 'not answering'}",
                )
            return web.json_response({"line": slot.name, **report()})
    if not os.path.exists(device):
        raise Problem(404, f"{device} does not exist; is the modem plugged in?")
    modem = GsmModem(device)
    try:
        await modem.open()
        return web.json_response({"line": None, **modem.probe_report()})
    except LineError as exc:
        raise Problem(409, f"nothing usable answers on {device}: {exc}") from None
    finally:
        await modem.close()


@API.op("POST", "/tokens", summary="Create an API token (its secret is in this answer only)",
        tag="setup", scope="admin", body=TokenCreate, responses={201: ("the new token", TokenCreated)})  # fmt: skip
async def new_token(call: Call[TokenCreate]) -> web.Response:
    svc = services(call)
    body = call.body
    secret = create_token(svc.db, body.name, body.scope, svc.clock.now(), call.caller.actor)
    return web.json_response({"name": body.name, "scope": body.scope, "token": secret}, status=201)
