"""Call progress: vendor call URCs and +CLCC rows into call states, and states into outcomes.

One table per family (research/modems.md 0.6, 2.2-2.5): generic ``+CLCC`` (polled or as URCs),
SIMCom ``VOICE CALL:``/``MO RING``, Quectel ``^DSCI`` (whose stat codes differ from ``+CLCC``),
Huawei ``^ORIG/^CONF/^CONN/^CEND``, Wavecom ``+WIND: 5/2/6``, u-blox ``+UCALLSTAT``, ZTE
``HANGUP: <id>``. The outcome decision keeps the modem's words beside it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from appliance.drivers.at.codes import Final, FinalKind
from appliance.drivers.at.session import Urc
from appliance.drivers.outcome import Outcome


class CallState(enum.Enum):
    DIALING = "dialing"
    ALERTING = "alerting"
    ACTIVE = "active"
    RELEASED = "released"
    INCOMING = "incoming"


@dataclass(frozen=True, slots=True)
class CallEvent:
    state: CallState
    raw: str
    cause: int | None = None  # 24.008 cause when the modem gives one
    end_status: int | None = None  # Huawei ^CEND end_status
    call_id: int | None = None
    # The call's direction when the indication says it (+CLCC, ^DSCI rows): True for a call
    # ringing in (mobile terminated), False for one we placed; None when it does not say.
    mt: bool | None = None


# 27.007 +CLCC <stat>; 6 "disconnect" is a SIMCom extension.
CLCC_STATES = {
    0: CallState.ACTIVE,
    1: CallState.ACTIVE,
    2: CallState.DIALING,
    3: CallState.ALERTING,
    4: CallState.INCOMING,
    5: CallState.INCOMING,
    6: CallState.RELEASED,
}
# Quectel ^DSCI <stat>: three independent drivers agree (research/modems.md 2.4); 1 is a held
# call (Qualcomm's ^DSCI table, which EC2x firmware shares), still up like +CLCC's stat 1.
DSCI_STATES = {
    1: CallState.ACTIVE,
    2: CallState.DIALING,
    3: CallState.ACTIVE,
    4: CallState.INCOMING,
    5: CallState.INCOMING,
    6: CallState.RELEASED,
    7: CallState.ALERTING,
}

# u-blox +UCALLSTAT <stat>: 0 active, 1 held, 2 dialling, 3 alerting, 4 ringing, 5 waiting,
# 6 disconnected, 7 connected (ModemManager treats 7 as active).
UCALLSTAT_STATES = {
    0: CallState.ACTIVE,
    1: CallState.ACTIVE,
    2: CallState.DIALING,
    3: CallState.ALERTING,
    4: CallState.INCOMING,
    5: CallState.INCOMING,
    6: CallState.RELEASED,
    7: CallState.ACTIVE,
}

_INT = re.compile(r"\s*(\d+)\s*")


def _ints(value: str) -> list[int | None]:
    out: list[int | None] = []
    for part in value.split(","):
        m = _INT.fullmatch(part)
        out.append(int(m.group(1)) if m else None)
    return out


@dataclass(frozen=True, slots=True)
class ClccRow:
    call_id: int
    outgoing: bool
    stat: int
    number: str


def parse_clcc(value: str) -> ClccRow | None:
    """``1,0,3,0,0,"+4930123",145`` -> ClccRow; None when malformed."""
    fields = value.split(",")
    nums = _ints(",".join(fields[:5]))
    if len(nums) < 5 or any(n is None for n in nums[:3]):
        return None
    number = fields[5].strip().strip('"') if len(fields) > 5 else ""
    call_id, direction, stat = nums[0], nums[1], nums[2]
    assert call_id is not None and direction is not None and stat is not None
    return ClccRow(call_id, direction == 0, stat, number)


# Final result codes arriving as URCs after ATD (python-gsmmodem #101).
_FINAL_CAUSE = {"BUSY": 17, "NO ANSWER": 19}


def event_from_urc(urc: Urc) -> CallEvent | None:
    """The call event a URC means, for every family (URCs of other families never arrive).
    Rows of calls ringing in (``+CLCC``/``^DSCI`` with direction 1) carry ``mt`` True."""
    text = urc.text.strip()
    upper = text.upper()
    if upper in ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE"):
        return CallEvent(CallState.RELEASED, text, _FINAL_CAUSE.get(upper))
    name, value = urc.name.upper(), urc.value
    if name == "+CLCC":
        row = parse_clcc(value)
        if row is not None and row.stat in CLCC_STATES:
            return CallEvent(CLCC_STATES[row.stat], text, call_id=row.call_id, mt=not row.outgoing)
        return None
    if name == "^DSCI":
        nums = _ints(value)
        if len(nums) >= 3 and nums[1] in (0, 1) and nums[2] in DSCI_STATES:
            cause = nums[8] if len(nums) > 8 else None  # Unisoc long form carries a cause
            return CallEvent(DSCI_STATES[nums[2]], text, cause, call_id=nums[0], mt=nums[1] == 1)
        return None
    if name in ("^ORIG", "^CONF", "^CONN"):
        state = {
            "^ORIG": CallState.DIALING,
            "^CONF": CallState.ALERTING,
            "^CONN": CallState.ACTIVE,
        }[name]
        return CallEvent(state, text, call_id=_ints(value)[0])
    if name == "^CEND":
        nums = _ints(value)  # id, duration, end_status[, cc_cause]; cause only if network ended
        end_status = nums[2] if len(nums) > 2 else None
        cause = nums[3] if len(nums) > 3 else None
        return CallEvent(CallState.RELEASED, text, cause, end_status, nums[0])
    if name == "+WIND":  # Wavecom: 5,<id> call created, 2 remote ringing, 6,<id> released
        nums = _ints(value)
        if nums and nums[0] in (2, 5, 6):
            call_id = nums[1] if len(nums) > 1 else None
            state = {2: CallState.ALERTING, 5: CallState.DIALING, 6: CallState.RELEASED}[nums[0]]
            return CallEvent(state, text, call_id=call_id)
        return None
    if name == "+UCALLSTAT":
        nums = _ints(value)
        if len(nums) >= 2 and nums[1] in UCALLSTAT_STATES:
            state = UCALLSTAT_STATES[nums[1]]
            mt = True if state is CallState.INCOMING else None  # 4 ringing, 5 waiting: MT
            return CallEvent(state, text, call_id=nums[0], mt=mt)
        return None
    if name == "HANGUP":  # ZTE: an answered call ended
        return CallEvent(CallState.RELEASED, text, call_id=_ints(value)[0])
    if upper.startswith("VOICE CALL:"):
        if "BEGIN" in upper:
            return CallEvent(CallState.ACTIVE, text)
        if "END" in upper:
            return CallEvent(CallState.RELEASED, text)
    if upper == "MO RING":
        return CallEvent(CallState.ALERTING, text)
    if upper == "MO CONNECTED":
        return CallEvent(CallState.ACTIVE, text)
    return None


# ------------------------------------------------------------------------- outcomes
#: 24.008 Table 10.5.123 cause -> SPEC C11 outcome, for calls that were never answered.
CAUSE_OUTCOMES: dict[int, Outcome] = {
    1: Outcome.WRONG_NUMBER,  # unassigned number
    3: Outcome.UNREACHABLE,  # no route to destination
    8: Outcome.NO_LINE,  # operator determined barring (our subscription)
    17: Outcome.BUSY,
    18: Outcome.ALERTING_TIMEOUT,  # no user responding
    19: Outcome.ALERTING_TIMEOUT,  # user alerting, no answer
    20: Outcome.UNREACHABLE,  # subscriber absent
    21: Outcome.REJECTED,
    22: Outcome.WRONG_NUMBER,  # number changed
    27: Outcome.UNREACHABLE,  # destination out of order
    28: Outcome.WRONG_NUMBER,  # invalid number format
    34: Outcome.UNREACHABLE,  # no circuit available
    38: Outcome.UNREACHABLE,  # network out of order
    41: Outcome.UNREACHABLE,  # temporary failure
    42: Outcome.UNREACHABLE,  # switching equipment congestion
    44: Outcome.UNREACHABLE,
    47: Outcome.UNREACHABLE,  # resources unavailable
    50: Outcome.NO_LINE,  # facility not subscribed
    57: Outcome.INCOMPATIBLE,
    58: Outcome.INCOMPATIBLE,
    63: Outcome.NO_LINE,  # service not available
    65: Outcome.INCOMPATIBLE,
    69: Outcome.INCOMPATIBLE,
    79: Outcome.INCOMPATIBLE,
    88: Outcome.INCOMPATIBLE,  # incompatible destination
}

#: Huawei ^CEND end_status without a cc_cause (research/modems.md 2.4).
HUAWEI_END_OUTCOMES: dict[int, Outcome] = {
    21: Outcome.NO_LINE,  # no service
    22: Outcome.UNREACHABLE,  # fade
    23: Outcome.UNREACHABLE,  # intercept
    24: Outcome.UNREACHABLE,  # reorder
    34: Outcome.NO_LINE,  # RUIM not present
    102: Outcome.REJECTED,
    103: Outcome.REJECTED,
    105: Outcome.NO_LINE,  # no funds
    106: Outcome.NO_LINE,  # no GW service
}

#: +CME errors in answer to ATD.
CME_OUTCOMES: dict[int, Outcome] = {
    3: Outcome.NO_LINE,
    10: Outcome.NO_LINE,
    11: Outcome.NO_LINE,
    13: Outcome.NO_LINE,
    26: Outcome.WRONG_NUMBER,
    27: Outcome.WRONG_NUMBER,
    30: Outcome.NO_LINE,
    31: Outcome.UNREACHABLE,
    32: Outcome.NO_LINE,
}

_CEER_TEXT = {
    "unassigned": 1,
    "no route": 3,
    "normal call clearing": 16,
    "user busy": 17,
    "no user responding": 18,
    "no answer": 19,
    "subscriber absent": 20,
    "call rejected": 21,
    "number changed": 22,
    "destination out of order": 27,
    "invalid number": 28,
    "normal, unspecified": 31,
    "no circuit": 34,
    "network out of order": 38,
    "temporary failure": 41,
    "congestion": 42,
}


def cause_from_ceer(value: str) -> int | None:
    """``+CEER:`` formats are vendor-specific: a number somewhere, or 24.008 text."""
    numbers = re.findall(r"\b(\d{1,3})\b", value)
    for n in numbers:
        if 0 < int(n) < 128:
            return int(n)
    folded = value.lower()
    for text, cause in _CEER_TEXT.items():
        if text in folded:
            return cause
    return None


def decide_unanswered(
    *,
    alerted: bool,
    final: Final | None,
    cause: int | None,
    end_status: int | None,
) -> Outcome:
    """Outcome of a call that ended without being answered, from the best evidence at hand:
    the network cause first, then the final result code, then the vendor end status."""
    if cause is not None and cause in CAUSE_OUTCOMES:
        return CAUSE_OUTCOMES[cause]
    if cause in (16, 31):  # normal clearing before answer: the callee declined, or never rang
        return Outcome.REJECTED if alerted else Outcome.UNREACHABLE
    if final is not None:
        if final.kind is FinalKind.BUSY:
            return Outcome.BUSY
        if final.kind is FinalKind.NO_ANSWER:
            return Outcome.ALERTING_TIMEOUT
        if final.kind is FinalKind.NO_DIALTONE:
            return Outcome.NO_LINE
        if final.kind is FinalKind.CME:
            return CME_OUTCOMES.get(final.code or -1, Outcome.ERROR_OCCURRED)
        if final.kind in (FinalKind.ERROR, FinalKind.CMS):
            return Outcome.ERROR_OCCURRED
    if end_status is not None and end_status in HUAWEI_END_OUTCOMES:
        return HUAWEI_END_OUTCOMES[end_status]
    # Released with no cause: after ringing the callee declined (handsets reject as busy or
    # plain release); before ringing the network could not reach them.
    return Outcome.REJECTED if alerted else Outcome.UNREACHABLE
