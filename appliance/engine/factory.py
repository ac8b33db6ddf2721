"""Line drivers by kind, imported lazily: a box without CAN cards never imports CAN code."""

from __future__ import annotations

from appliance.config.models import LineConfig, SeatConfig
from appliance.drivers.line import Line, PhoneSeat, Seat
from appliance.errors import DialboxError


def make_line(config: LineConfig) -> Line:
    """The driver object for one configured line (not yet opened)."""
    if config.kind == "gsm":
        from appliance.drivers.gsm.modem import GsmModem

        profile = None if config.profile == "auto" else config.profile
        return GsmModem(config.device, name=config.name, pin=config.pin, profile=profile,
                        audio=config.audio)  # fmt: skip
    if config.kind == "v253":
        from appliance.drivers.v253.modem import VoiceModem

        try:
            return VoiceModem(config.device, name=config.name, audio=config.audio)
        except ValueError as exc:
            raise DialboxError(f"line {config.name!r}: {exc}") from exc
    if config.kind == "can":
        from appliance.drivers.can.card import backplane_for, parse_device
        from appliance.drivers.can.line import CanLine

        try:
            interface, channel, slot, port = parse_device(config.device)
        except ValueError as exc:
            raise DialboxError(f"line {config.name!r}: {exc}") from exc
        return CanLine(backplane_for(interface, channel), slot, port, name=config.name)
    raise DialboxError(f"line {config.name!r}: kind {config.kind!r} is not supported by this build")


def make_seat(config: SeatConfig) -> Seat:
    """The driver object for one configured agent seat (not yet opened)."""
    if config.kind == "phone":
        assert config.number is not None
        return PhoneSeat(config.name, config.number)
    if config.kind == "can":
        from appliance.drivers.can.card import backplane_for, parse_device
        from appliance.drivers.can.seat import CanSeat

        try:
            interface, channel, slot, port = parse_device(config.device or "")
        except ValueError as exc:
            raise DialboxError(f"seat {config.name!r}: {exc}") from exc
        return CanSeat(backplane_for(interface, channel), slot, port, name=config.name)
    raise DialboxError(f"seat {config.name!r}: kind {config.kind!r} is not supported by this build")
