"""Call hold, multiparty and explicit call transfer of the emulated module (27.007 7.13 +CHLD).

``AT+CHLD=<n>`` with the operations of TS 22.030 6.5.5.1: 0 release the held calls; 1 release
the active calls and retrieve the held one; 1x release call x; 2 hold the active calls and
retrieve the held one (a swap when there are both); 2x keep only call x active; 3 join the held
call to the conversation (multiparty); 4 explicit call transfer (TS 22.091): one held call and
one active or alerting call are joined and the subscriber leaves both. The network then clears
both calls towards the module (TS 24.091), so each ends as a call the far end cleared (cause
16) ends in the module's dialect: ``NO CARRIER``, ``VOICE CALL: END``, ``^CEND``, ``+CLCC``
stat 6, ``^DSCI`` stat 6. A network that does not offer ECT (script ``ect = false``, control
``<m> ect off``) refuses 4 with ``+CME ERROR: 3`` (operation not allowed); so does every other
operation the calls present do not allow.
"""

from __future__ import annotations

import functools

from appliance.drivers.emulators.gsm.calls import CallSim
from appliance.drivers.emulators.gsm.device import CmdError, EmulatedModem, Op, handles

#: What the module offers, as real modules answer ``AT+CHLD=?``.
OPERATIONS = "(0,1,1x,2,2x,3,4)"

#: Seconds (scaled) between the network's acknowledgement of ECT and its clearing of the calls.
ECT_CLEARING = 0.1

_NOT_ALLOWED = 3  # +CME ERROR: 3 operation not allowed


@handles("+CHLD")
def chld(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info(f"+CHLD: {OPERATIONS}")
        return
    if op.kind != "set" or not op.args.strip():
        raise CmdError()  # no read form; <n> is needed
    operate(m.calls, op.args.strip())


def operate(sim: CallSim, n: str) -> None:
    """Apply ``+CHLD=<n>`` to the calls of ``sim``; ``CmdError`` when it is not allowed."""
    calls = sim.calls
    active = [c for c in calls if c.state == "active"]
    held = [c for c in calls if c.state == "held"]
    setting_up = [c for c in calls if c.state in ("dialing", "alerting")]
    x = int(n[1:]) if len(n) > 1 and n[1:].isdigit() else None
    if n == "0":
        if not held:
            raise CmdError(cme=_NOT_ALLOWED)
        for call in held:
            sim.release(call, 16, local=True)
    elif n == "1":
        if not active and not held:
            raise CmdError(cme=_NOT_ALLOWED)
        for call in active:
            sim.release(call, 16, local=True)
        for call in held:
            sim.retrieve(call)
    elif n[0] == "1" and x is not None:
        # SIM7600/EC25 release call x whatever its state (a call still ringing out included).
        target = sim.by_index(x)
        if target is None:
            raise CmdError(cme=_NOT_ALLOWED)
        sim.release(target, 16, local=True)
    elif n == "2":
        if (not active and not held) or (held and setting_up):
            raise CmdError(cme=_NOT_ALLOWED)  # a held call is not retrieved over a call set-up
        for call in active:
            sim.hold(call)
        for call in held:
            sim.retrieve(call)
    elif n[0] == "2" and x is not None:
        target = sim.by_index(x)
        if target is None or target.state not in ("active", "held") or setting_up:
            raise CmdError(cme=_NOT_ALLOWED)
        target.mpty = False  # split from the multiparty call, if it was in one
        for other in active:
            if other is not target:
                sim.hold(other)
        sim.retrieve(target)
    elif n == "3":
        if not active or not held:
            raise CmdError(cme=_NOT_ALLOWED)
        for call in held:
            sim.retrieve(call)
        for call in active + held:
            call.mpty = True
            sim.state_changed(call)
    elif n == "4":
        rest = [c for c in calls if c not in held]
        # TS 22.091 1.1: a held call and an active call, or a held call and an outgoing call
        # still alerting; never a multiparty call.
        if (
            not sim.ect
            or len(held) != 1
            or len(rest) != 1
            or rest[0].state not in ("active", "alerting")
            or any(c.mpty for c in calls)
        ):
            raise CmdError(cme=_NOT_ALLOWED)
        for call in (held[0], rest[0]):
            sim.later(call, ECT_CLEARING, functools.partial(sim.release, call, 16))
    else:
        raise CmdError(cme=50)  # incorrect parameters
