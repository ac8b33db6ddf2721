"""The emulated line card's object dictionary: section 3 of docs/line-card-protocol.md."""

from __future__ import annotations

from canopen import objectdictionary as od

from appliance.drivers.can.protocol import (
    DEVICE_TYPE,
    OD_CONFERENCE,
    OD_HARDWARE,
    OD_MESSAGE_COUNT,
    OD_MESSAGES,
    OD_PORTS,
    OD_ROLE,
    OD_STATE,
    OD_VERSION,
    PROTOCOL_VERSION,
    Role,
)


def _variable(
    name: str, index: int, sub: int, kind: int, value: int | str, access: str = "ro"
) -> od.ODVariable:
    var = od.ODVariable(name, index, sub)
    var.data_type = kind
    var.access_type = access
    var.default = value  # type: ignore[assignment]  # canopen types it int, strings are fine
    return var


def object_dictionary(
    roles: list[Role], messages: list[str], conference: int = 0
) -> od.ObjectDictionary:
    """Section 3 of the protocol, as a canopen object dictionary; ``conference``: the bits of
    object 0x200B (0: the object is absent, as on a card older than section 4.5)."""
    d = od.ObjectDictionary()  # type: ignore[no-untyped-call]
    d.add_object(_variable("Device type", 0x1000, 0, od.UNSIGNED32, DEVICE_TYPE))
    d.add_object(_variable("Error register", 0x1001, 0, od.UNSIGNED8, 0))
    d.add_object(_variable("Device name", 0x1008, 0, od.VISIBLE_STRING, f"LC-{len(roles)} FXO/FXS"))
    d.add_object(_variable("Firmware", 0x100A, 0, od.VISIBLE_STRING, "emulated-1.0"))
    d.add_object(_variable("Heartbeat", 0x1017, 0, od.UNSIGNED16, 1000, "rw"))
    d.add_object(_variable("Protocol version", OD_VERSION, 0, od.UNSIGNED8, PROTOCOL_VERSION))
    d.add_object(_variable("Ports", OD_PORTS, 0, od.UNSIGNED8, len(roles)))
    if conference:
        d.add_object(_variable("Conference", OD_CONFERENCE, 0, od.UNSIGNED8, conference))
    for index, name, values, access in (
        (OD_HARDWARE, "Port hardware", [3] * len(roles), "ro"),
        (OD_ROLE, "Port role", [int(r) for r in roles], "rw"),
        (OD_STATE, "Port state", [0] * len(roles), "ro"),
    ):
        array = od.ODArray(name, index)
        array.add_member(_variable("count", index, 0, od.UNSIGNED8, len(roles)))
        for i, value in enumerate(values, start=1):
            array.add_member(_variable(f"port {i}", index, i, od.UNSIGNED8, value, access))
        d.add_object(array)
    d.add_object(_variable("Messages", OD_MESSAGE_COUNT, 0, od.UNSIGNED8, len(messages)))
    names = od.ODArray("Message names", OD_MESSAGES)
    names.add_member(_variable("count", OD_MESSAGES, 0, od.UNSIGNED8, len(messages)))
    for i, message in enumerate(messages, start=1):
        names.add_member(_variable(f"message {i}", OD_MESSAGES, i, od.VISIBLE_STRING, message))
    d.add_object(names)
    return d
