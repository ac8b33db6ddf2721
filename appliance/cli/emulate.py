"""`dialbox emulate gsm`: emulated GSM modems on pseudo-terminals, for demos, tests and training."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from appliance.drivers.emulators.gsm.callers import load_incoming
from appliance.drivers.emulators.gsm.dialect import DIALECTS
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import Script, ScriptError, load
from appliance.errors import DialboxError

ANALOG_INCOMING_HELP = (
    "TOML or JSON: incoming calls to place, [[calls]] with at (seconds), modem or port, number "
    "(or withheld), keys ('1@2.0,9@5.5': digit@seconds after the answer), hangup (seconds after "
    "the answer), ring (seconds the caller waits); see docs/drivers.md"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("emulate", help="run emulated line hardware")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    gsm = kinds.add_parser(
        "gsm",
        help="GSM/LTE modems on pseudo-terminals",
        description="Open N pseudo-terminals linked as DIR/gsm0... that answer like real "
        "modules of the chosen family, each with its PCM audio port DIR/gsm0-audio... (the "
        "call's sound once the family's audio command is given); control them through "
        "DIR/control.sock (see docs/drivers.md). Runs until interrupted.",
    )
    gsm.add_argument("--count", type=int, default=1, help="number of modems (default 1)")
    gsm.add_argument("--link-dir", type=Path, required=True, metavar="DIR")
    gsm.add_argument("--profile", choices=sorted(DIALECTS), default="generic")
    gsm.add_argument("--seed", type=int, default=0, help="seed of the random call outcomes")
    gsm.add_argument("--script", type=Path, metavar="FILE", help="TOML or JSON emulator script")
    gsm.add_argument(
        "--time-scale", type=float, metavar="X", help="multiply every scripted delay by X"
    )
    gsm.add_argument(
        "--incoming",
        type=Path,
        metavar="FILE",
        help="TOML or JSON: calls that ring in, [[calls]] with at (seconds after start), "
        "modem, number (or 'withheld'), keys ('1@2.0,9@5.5': each key's seconds after the "
        "answer), hangup and ring (seconds); see docs/drivers.md",
    )
    gsm.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="append every ATD received, and each call's fate, to FILE as JSON lines "
        "(written at once: the record survives the dialer being killed)",
    )
    gsm.add_argument("--json", action="store_true", help="print the links as one JSON document")
    gsm.set_defaults(func=run_gsm)
    v253 = kinds.add_parser(
        "v253",
        help="emulated V.253 analog voice modems on pseudo-terminals",
        description="Open N pseudo-terminals linked as DIR/v2530... that answer like V.253 "
        "voice modems (voice mode, DLE call-progress events, VCON, +VTX playback, incoming "
        "calls with caller ID); control them through DIR/control.sock (see docs/drivers.md). "
        "Runs until interrupted.",
    )
    v253.add_argument("--count", type=int, default=1, help="number of modems (default 1)")
    v253.add_argument("--link-dir", type=Path, required=True, metavar="DIR")
    v253.add_argument("--seed", type=int, default=0, help="seed of the random call outcomes")
    v253.add_argument("--script", type=Path, metavar="FILE", help="TOML or JSON emulator script")
    v253.add_argument("--time-scale", type=float, help="multiply every scripted delay by this")
    v253.add_argument("--incoming", type=Path, metavar="SCRIPT", help=ANALOG_INCOMING_HELP)
    v253.add_argument("--json", action="store_true", help="print the links as one JSON document")
    v253.set_defaults(func=run_v253)
    card = kinds.add_parser(
        "can-card",
        help="emulated line cards on a CAN bus (docs/line-card-protocol.md)",
        description="Line cards as CANopen slaves: SLOT:ROLES per card (roles fxo, fxs, unused), "
        "on a bus: slcan:PATH (a pty that is an SLCAN USB adapter, for any host), "
        "socketcan:vcan0, udp_multicast:GROUP.",
    )
    card.add_argument("--slots", nargs="+", required=True, metavar="SLOT:ROLES",
                      help="e.g. 3:fxo,fxo,fxs,fxs 5:fxo,fxs")  # fmt: skip
    card.add_argument("--bus", required=True, metavar="INTERFACE:CHANNEL")
    card.add_argument("--seed", type=int, default=0, help="seed of the random call outcomes")
    card.add_argument("--time-scale", type=float, default=None, help="multiply every delay by this")
    card.add_argument("--script", type=Path, metavar="FILE",
                      help="TOML or JSON: time_scale, [random] outcome weights, [[numbers]] plans "
                      "(number, outcome, ring, talk, dtmf) as for the V.253 emulator")  # fmt: skip
    card.add_argument(
        "--handsets",
        type=handsets,
        default=(0.4, None),
        metavar="SPEC",
        help="the agents on FXS ports: 'lift=S' lifts a ringing handset after S seconds "
        "(default lift=0.4), 'lift=S,hang-up=T' also puts it down T seconds into a bridged "
        "call, 'manual' never lifts (a person must)",
    )
    card.add_argument("--conference", type=conference, default=("listen", "whisper", "barge"),
                      metavar="MODES",
                      help="the supervisor's conference the cards can do (MONITOR, protocol "
                      "4.5): modes listen,whisper,barge (the default), or 'none': an older card "
                      "without it")  # fmt: skip
    card.add_argument("--incoming", type=Path, metavar="SCRIPT",
                      help=ANALOG_INCOMING_HELP.replace("modem or port", "port (SLOT/PORT)"))  # fmt: skip
    card.add_argument("--control", type=Path, metavar="PATH",
                      help="a control socket at PATH: '<slot>/<port> incoming <number|withheld> "
                      "[keys=..] [hangup=S] [ring=S]', lift, hang-up, press, '<slot> unplug', "
                      "'<slot> status' (the ports' bridges, conferences, who hears whom) "
                      "(see docs/drivers.md)")  # fmt: skip
    card.add_argument("--json", action="store_true", help="print the bus and cards as JSON")
    card.set_defaults(func=run_can_card)


def conference(spec: str) -> tuple[str, ...]:
    """``--conference``: ``none`` or modes among listen, whisper, barge."""
    if spec.strip() == "none":
        return ()
    modes = tuple(m.strip() for m in spec.split(",") if m.strip())
    if not modes or any(m not in ("listen", "whisper", "barge") for m in modes):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected 'none' or modes among "
                                         "listen,whisper,barge")  # fmt: skip
    return modes


def handsets(spec: str) -> tuple[float | None, float | None]:
    """``--handsets``: ``manual`` or ``lift=S[,hang-up=T]`` -> (lift_after, hang_up_after)."""
    if spec.strip() == "manual":
        return None, None
    values: dict[str, float] = {}
    for item in spec.split(","):
        key, _, value = item.strip().partition("=")
        try:
            if key not in ("lift", "hang-up") or key in values or float(value) < 0:
                raise ValueError
            values[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{spec!r}: expected 'manual' or 'lift=SECONDS[,hang-up=SECONDS]'"
            ) from None
    return values.get("lift", 0.4), values.get("hang-up")


def run_gsm(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 256:
        raise DialboxError(f"--count {args.count}: expected 1 to 256 modems")
    try:
        script = load(args.script) if args.script else Script()
    except ScriptError as exc:
        raise DialboxError(str(exc)) from exc
    if args.incoming is not None:
        try:
            script.events.extend(load_incoming(args.incoming, args.count))
        except ScriptError as exc:
            raise DialboxError(f"--incoming {exc}") from exc
    if args.time_scale is not None:
        script.time_scale = args.time_scale
    return asyncio.run(_serve(args, script))


async def _serve(args: argparse.Namespace, script: Script) -> int:
    try:
        farm = Farm(args.count, args.link_dir, args.profile, args.seed, script, args.journal)
    except OSError as exc:
        raise DialboxError(f"--journal {args.journal}: {exc}") from exc
    try:
        await farm.start()
    except OSError as exc:
        raise DialboxError(f"{args.link_dir}: cannot create the links: {exc}") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    links = [
        {
            "link": str(m.port.link),
            "device": m.port.device,
            "profile": m.dialect.name,
            "audio": str(m.audio.port.link),
            "audio_device": m.audio.port.device,
        }
        for m in farm.modems
    ]
    if args.json:
        document: dict[str, object] = {"links": links, "control": str(farm.control_path)}
        if args.journal is not None:
            document["journal"] = str(args.journal)
        json.dump(document, sys.stdout)
        sys.stdout.write("\n")
    else:
        for item in links:
            print(f"{item['link']} -> {item['device']} ({item['profile']}); "
                  f"audio {item['audio']} -> {item['audio_device']}")  # fmt: skip
        print(f"control: {farm.control_path}")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await farm.stop()
    return 0


def run_v253(args: argparse.Namespace) -> int:
    from appliance.drivers.emulators.plans import load_incoming
    from appliance.drivers.emulators.v253 import VoiceFarm, VoiceScript, load_script

    if not 1 <= args.count <= 256:
        raise DialboxError(f"--count {args.count}: expected 1 to 256 modems")
    try:
        script = load_script(args.script) if args.script else VoiceScript()
    except (OSError, ValueError) as exc:
        raise DialboxError(str(exc)) from exc
    if args.time_scale is not None:
        script.time_scale = args.time_scale
    farm = VoiceFarm(args.count, args.link_dir, script, args.seed)
    try:
        calls = load_incoming(args.incoming, farm.check_target) if args.incoming else []
    except ValueError as exc:
        raise DialboxError(f"--incoming {exc}") from exc

    async def serve() -> int:
        try:
            farm.start()
            await farm.open_control()
        except OSError as exc:
            raise DialboxError(f"{args.link_dir}: cannot create the links: {exc}") from exc
        farm.schedule(calls)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        links = [{"link": str(m.port.link), "device": m.port.device} for m in farm.modems]
        if args.json:
            json.dump({"links": links, "control": str(farm.control_path)}, sys.stdout)
            sys.stdout.write("\n")
        else:
            for item in links:
                print(f"{item['link']} -> {item['device']} (v253)")
            print(f"control: {farm.control_path}")
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            await farm.close_control()
            farm.stop()
        return 0

    return asyncio.run(serve())


def run_can_card(args: argparse.Namespace) -> int:
    import can
    import canopen

    from appliance.drivers.can.protocol import Role
    from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
    from appliance.drivers.emulators.can_rack import CardRack
    from appliance.drivers.emulators.plans import load_incoming
    from appliance.drivers.emulators.slcan import SlcanAdapter

    cards: list[tuple[int, list[Role]]] = []
    for item in args.slots:
        slot, _, roles = item.partition(":")
        try:
            cards.append((int(slot), [Role[r.strip().upper()] for r in roles.split(",")]))
        except (KeyError, ValueError):
            raise DialboxError(f"--slots {item!r}: SLOT:ROLES, roles fxo, fxs or unused") from None
    lift_after, hang_up_after = args.handsets
    script = CardScript(lift_after=lift_after, hang_up_after=hang_up_after)
    if args.script is not None:
        from appliance.drivers.emulators.can_card import OUTCOMES
        from appliance.drivers.emulators.plans import load_plans

        try:
            load_plans(script, args.script, OUTCOMES)
        except (OSError, ValueError) as exc:
            raise DialboxError(f"--script {args.script}: {exc}") from exc
    if args.time_scale is not None:
        script.time_scale = args.time_scale
    interface, _, channel = args.bus.partition(":")
    adapter = None
    if interface == "slcan":
        internal = can.Bus(interface="virtual", channel=f"emulated-{os.getpid()}")
        bus = can.Bus(interface="virtual", channel=f"emulated-{os.getpid()}")
        adapter = SlcanAdapter(internal, Path(channel))
    else:
        try:
            bus = can.Bus(interface=interface, channel=channel)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            raise DialboxError(f"--bus {args.bus}: {exc}") from exc
    network = canopen.Network(bus)
    network.connect()
    emulated = [EmulatedCard(network, slot, roles, script, seed=args.seed,
                             conference=args.conference) for slot, roles in cards]  # fmt: skip
    rack = CardRack(emulated, script.time_scale)
    try:
        calls = load_incoming(args.incoming, rack.check_target) if args.incoming else []
    except ValueError as exc:
        network.disconnect()
        if adapter is not None:
            adapter.close()
        raise DialboxError(f"--incoming {exc}") from exc
    for item in emulated:
        item.plug()
    info = {"bus": args.bus, "cards": [{"slot": s, "roles": [r.name.lower() for r in roles]}
                                       for s, roles in cards],
            "handsets": {"lift_after": lift_after, "hang_up_after": hang_up_after},
            "conference": list(args.conference)}  # fmt: skip
    if args.control is not None:
        info["control"] = str(args.control)

    async def serve() -> None:
        if args.control is not None:
            try:
                await rack.open_control(args.control)
            except OSError as exc:
                raise DialboxError(f"--control {args.control}: {exc}") from exc
        rack.schedule(calls)
        if args.json:
            json.dump(info, sys.stdout)
            sys.stdout.write("\n")
        else:
            for entry in info["cards"]:
                print(f"slot {entry['slot']}: {', '.join(entry['roles'])} on {args.bus}")
            if args.control is not None:
                print(f"control: {args.control}")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await rack.close()

    try:
        asyncio.run(serve())
    finally:
        for item in emulated:
            item.unplug()
        network.disconnect()
        if adapter is not None:
            adapter.close()
    return 0
