"""`dialbox lines probe|call|sms`: technician tools that talk to one modem port directly."""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
from typing import Any

from appliance.cli.output import add_json_flag, emit
from appliance.drivers.audio import FRAME_MS, AudioChannel
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.gsm.profiles import PROFILES
from appliance.drivers.line import (
    DEFAULT_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    DeliveryReport,
    LineError,
    LineEvent,
)
from appliance.errors import DialboxError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("lines", help="probe and test lines (modem ports)")
    sub = parser.add_subparsers(dest="lines_command", metavar="ACTION", required=True)

    probe = sub.add_parser("probe", help="identify a modem: SIM, registration, signal, profile")
    _port_args(probe)
    probe.set_defaults(func=run_probe)

    call = sub.add_parser("call", help="place a test call and report its outcome")
    _port_args(call)
    call.add_argument("number", help="number to dial, e.g. +4930123456")
    call.add_argument(
        "--ring-timeout",
        type=float,
        default=DEFAULT_RING_TIMEOUT,
        metavar="S",
        help=f"seconds of ringing before giving up (at least {MIN_RING_TIMEOUT:g}; "
        f"default {DEFAULT_RING_TIMEOUT:g})",
    )
    call.add_argument(
        "--hold",
        type=float,
        default=30.0,
        metavar="S",
        help="once answered, hang up after S seconds unless the callee does (default 30)",
    )
    call.set_defaults(func=run_call)

    sms = sub.add_parser("sms", help="send a test SMS")
    _port_args(sms)
    sms.add_argument("number")
    sms.add_argument("text")
    sms.add_argument(
        "--wait-report",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for the delivery reports",
    )
    sms.set_defaults(func=run_sms)


def _port_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", help="device path, pty, socket://host:port or loop://")
    parser.add_argument("--pin", help="SIM PIN, if the SIM asks for one")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="force a vendor profile")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument(
        "--audio",
        metavar="PORT",
        help="the module's PCM audio port (lines[].audio), to check the call audio path",
    )
    add_json_flag(parser)


def _modem(args: argparse.Namespace) -> GsmModem:
    return GsmModem(
        args.port, pin=args.pin, profile=args.profile, baudrate=args.baud, audio=args.audio
    )


async def _opened(args: argparse.Namespace) -> GsmModem:
    modem = _modem(args)
    try:
        await modem.open()
    except LineError as exc:
        raise DialboxError(str(exc)) from exc
    return modem


def run_probe(args: argparse.Namespace) -> int:
    async def main() -> dict[str, Any]:
        modem = await _opened(args)
        try:
            return modem.probe_report()
        finally:
            await modem.close()

    report = asyncio.run(main())
    emit(args, report, _human_probe)
    return 0


def _human_probe(report: dict[str, Any]) -> str:
    def text(key: str, value: Any) -> str:
        if key == "quirks":  # {"cpin-no-ok": "profile", ...} -> cpin-no-ok (profile), ...
            return ", ".join(f"{name} ({source})" for name, source in value.items()) or "none"
        if isinstance(value, list):
            return ",".join(map(str, value)) or "-"
        return str(value)

    return "\n".join(f"{key:14} {text(key, value)}" for key, value in report.items())


def run_call(args: argparse.Namespace) -> int:
    if args.ring_timeout < MIN_RING_TIMEOUT:
        raise DialboxError(
            f"--ring-timeout {args.ring_timeout:g}: at least {MIN_RING_TIMEOUT:g} s (SPEC C6)"
        )

    async def main() -> dict[str, Any]:
        modem = await _opened(args)
        try:
            result = await modem.dial(args.number, args.ring_timeout)
            channel = modem.audio
            hearing = asyncio.create_task(_hear(channel)) if channel is not None else None
            if not result.ended:
                ended = await modem.wait_call_end(args.hold)
                result = ended if ended is not None else (await modem.hang_up()) or result
            document = result.to_dict()
            if args.audio is not None:
                heard = await hearing if hearing is not None else None
                document["audio"] = heard or {"path": modem.audio_path.describe()}
            return document
        except LineError as exc:
            raise DialboxError(str(exc)) from exc
        finally:
            await modem.close()

    document = asyncio.run(main())
    emit(args, document, _human_call)
    return 0


async def _hear(channel: AudioChannel) -> dict[str, Any]:
    """What the call sounded like: frames heard, the loudest sample, what went wrong."""
    frames = loudest = 0
    async for frame in channel.listen():
        frames += 1
        samples = array.array("h", frame.heard)
        loudest = max(loudest, max(samples), -min(samples))
    return {"frames": frames, "seconds": frames * FRAME_MS / 1000, "loudest": loudest,
            "overruns": channel.stats.overruns}  # fmt: skip


def _human_call(doc: dict[str, Any]) -> str:
    lines = [f"outcome   {doc['outcome']} ({doc['code']})"]
    audio = doc.get("audio")
    if audio is not None:
        lines.append(
            f"audio     {audio['path']}" if "path" in audio else
            f"audio     {audio['seconds']:.2f} s heard, loudest sample {audio['loudest']}, "
            f"{audio['overruns']} overruns"
        )  # fmt: skip
    if doc.get("cause") is not None:
        lines.append(f"cause     {doc['cause']}")
    times = ", ".join(f"{k} {v:.1f} s" for k, v in doc["durations"].items())
    lines.append(f"durations {times}")
    lines.extend(f"  {e}" for e in doc["evidence"])
    return "\n".join(lines)


def run_sms(args: argparse.Namespace) -> int:
    async def main() -> dict[str, Any]:
        modem = await _opened(args)
        reports: list[DeliveryReport] = []
        got_all = asyncio.Event()
        expected: set[int] = set()

        def on_event(event: LineEvent) -> None:
            if isinstance(event, DeliveryReport):
                reports.append(event)
                if expected and expected <= {r.reference for r in reports}:
                    got_all.set()

        modem.subscribe(on_event)
        try:
            result = await modem.send_sms(args.number, args.text)
            expected.update(result.references)
            if args.wait_report > 0 and result.status == "sent":
                if expected <= {r.reference for r in reports}:
                    got_all.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got_all.wait(), args.wait_report)
        except LineError as exc:
            raise DialboxError(str(exc)) from exc
        finally:
            await modem.close()
        document: dict[str, Any] = {
            "parts": result.parts,
            "references": list(result.references),
            "status": result.status,
            "encoding": result.encoding,
        }
        if result.error:
            document["error"] = result.error
        if args.wait_report > 0:
            document["reports"] = [
                {"reference": r.reference, "status": r.status, "delivered": r.delivered}
                for r in reports
                if r.reference in expected
            ]
        return document

    document = asyncio.run(main())
    emit(args, document, lambda d: "\n".join(f"{k:10} {v}" for k, v in d.items()))
    return 0 if document["status"] == "sent" else 1
