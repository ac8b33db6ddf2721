"""Vendor profiles: what differs between module families, chosen from +CGMI/+CGMM.

A profile is data, not code: init commands, how call progress is learnt, DTMF and playback
commands, ``+CNMI`` candidates, known quirks. Unknown modems get the generic 27.007 profile.
What a profile promises is verified on the module (voice.py): call-state URCs that do not come
are replaced by ``+CLCC`` polling, and quirks not in the profile are learnt when met.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CallTracking(enum.Enum):
    CLCC_POLL = "clcc-poll"  # poll AT+CLCC (27.007); the fallback that works everywhere
    CLCC_URC = "clcc-urc"  # AT+CLCC=1 unsolicited list (SIMCom, some generic modules)
    DSCI = "dsci"  # Quectel AT^DSCI=1
    HUAWEI = "huawei"  # ^ORIG/^CONF/^CONN/^CEND
    WIND = "wind"  # Wavecom AT+WIND=50: +WIND: 5 created, 2 remote ringing, 6 released
    UCALLSTAT = "ucallstat"  # u-blox AT+UCALLSTAT=1


#: Call-tracking kinds whose progress comes as URCs (verified per call: voice.py).
URC_TRACKING = frozenset(
    {
        CallTracking.CLCC_URC,
        CallTracking.DSCI,
        CallTracking.HUAWEI,
        CallTracking.WIND,
        CallTracking.UCALLSTAT,
    }
)

#: Quirks a profile may declare (or the driver learn on the module, gammu-style flags).
#: cpin-no-ok: +CPIN? answers its line and no final OK (Wavecom; gammu's CPINNoOK).
#: atd-held: ATD's final result comes only when the call is answered or fails (Wavecom: OK;
#: old ZTE/Qualcomm sticks: CONNECT, a reject just OK); the call's deadlines run meanwhile
#: and the dial is aborted with one character (V.250 6.3.1).
#: call-urcs-silent: the module accepts the call-state URC switch but sends none (phones).
QUIRKS = ("cpin-no-ok", "atd-held", "call-urcs-silent")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    manufacturers: tuple[str, ...]  # lower-case substrings of +CGMI
    call_tracking: CallTracking
    init: tuple[str, ...] = ()  # sent after the common init; an error is tolerated
    # CNMI candidates, best first; the first one the modem accepts wins (SIM800L refuses ds=2).
    cnmi: tuple[str, ...] = ("2,1,0,1,0", "2,1,0,1", "1,1,0,1,0", "2,1,0,0,0")
    dtmf_urcs: tuple[str, ...] = ()  # URC names carrying a received DTMF digit
    dtmf_send: str | None = "AT+VTS={digit}"
    playback: str | None = None  # command template playing {file} to the far end
    playback_done: str | None = None  # URC name that ends playback
    hang_up: str = "AT+CHUP"
    ready_urcs: tuple[str, ...] = ("RDY",)  # a URC meaning "I have just booted"
    # Agent seats by explicit call transfer (+CHLD=2, ATD, +CHLD=4; gsm/transfer.py) when the
    # module lists 4 in +CHLD=?. A family whose second call cannot be told from the first
    # (no call id in its indications, and +CLCC unusable during a call) must set this False.
    ect: bool = True
    quirks: tuple[str, ...] = ()  # known quirks of the family (QUIRKS)
    # Call audio to the host on the module's serial PCM port (#24): sent once a call is answered
    # (outgoing or incoming), and ``audio_off`` once it ended. None: the family has no such port.
    audio_on: str | None = None
    audio_off: str | None = None
    # Files uploaded to the module for ``playback`` (#24, gsm/files.py): "quectel" (AT+QFUPL),
    # "simcom" (AT+FSCREATE/AT+FSWRITE), None: none; and the name ``playback`` plays one by.
    files: str | None = None
    stored_file: str = "{name}"

    @property
    def dtmf_detect(self) -> bool:
        return bool(self.dtmf_urcs)


GENERIC = Profile(
    name="generic",
    manufacturers=(),
    call_tracking=CallTracking.CLCC_POLL,
)

SIMCOM = Profile(
    name="simcom",
    manufacturers=("simcom", "sim com"),
    call_tracking=CallTracking.CLCC_URC,
    # +CLCC URCs; SIM800 MO RING/MO CONNECTED; DTMF detection (SIM7000E answers ERROR: tolerated)
    init=("AT+CLCC=1", "AT+MORING=1", "AT+DDET=1", "AT+CVHU=0"),
    dtmf_urcs=("+DTMF", "+RXDTMF"),
    playback='AT+CCMXPLAY="{file}",1,0',
    playback_done="+AUDIOSTATE",
    ready_urcs=("RDY", "+CPIN: NOT READY"),
    # PCM on the audio port (SIM7600 if04) once the call is up; chan_quectel (cpvt.c
    # voice_enable/voice_disable) sends it per call and =0 at VOICE CALL: END. SIM800 has no
    # USB audio: ERROR, and the line says so.
    audio_on="AT+CPCMREG=1",
    audio_off="AT+CPCMREG=0",
    files="simcom",
    stored_file="c:/{name}",
)

QUECTEL = Profile(
    name="quectel",
    manufacturers=("quectel",),
    call_tracking=CallTracking.DSCI,
    init=("AT^DSCI=1", "AT+QTONEDET=1", "AT+CVHU=0"),
    dtmf_urcs=("+QTONEDET",),
    dtmf_send='AT+VTS="{digit}"',
    playback='AT+QPSND=1,"{file}",0,1,1',
    playback_done="+QPSND",
    ready_urcs=("RDY",),
    # Voice over the serial port (1,0); chan_quectel sends AT+QPCMV=0;+QPCMV=1,0 with each
    # ATD/ATA. 1,2 (the USB audio class) needs ALSA and is not driven (docs/drivers.md).
    audio_on="AT+QPCMV=1,0",
    audio_off="AT+QPCMV=0",
    files="quectel",
)

HUAWEI = Profile(
    name="huawei",
    manufacturers=("huawei",),
    call_tracking=CallTracking.HUAWEI,
    # Voice firmware needs ^CVOICE=0 (ERROR on data-only firmware: tolerated, babca #112).
    init=("AT^CVOICE=0",),
    cnmi=("2,1,0,2,0", "2,1,0,1,0", "2,0,0,2,1"),
    dtmf_urcs=("^DDTMF",),
    dtmf_send="AT^DTMF={call_id},{digit}",
    ready_urcs=("^BOOT", "RDY"),
    # PCM on the second port once the call is up (chan_dongle queues it after ATD and ATA);
    # the module stops the stream with the call.
    audio_on="AT^DDSETEX=2",
)

WAVECOM = Profile(
    name="wavecom",
    manufacturers=("wavecom",),
    call_tracking=CallTracking.WIND,
    init=("AT+WIND=50",),  # 2 remote ringing + 16 call created + 32 call released
    # +WIND: 2 names no call and ATD blocks the port until answer: no second call to follow.
    ect=False,
    quirks=("cpin-no-ok", "atd-held"),
)

ZTE = Profile(
    name="zte",
    manufacturers=("zte",),
    # No call-state URCs; +CLCC only once ATD has returned (polling a dialling call drops it
    # on the K3565-Z, research/modems.md 3.18, and nothing may be sent during ATD anyway).
    call_tracking=CallTracking.CLCC_POLL,
    ect=False,
    quirks=("atd-held",),
)

UBLOX = Profile(
    name="ublox",
    manufacturers=("u-blox", "ublox"),
    call_tracking=CallTracking.UCALLSTAT,
    # +UCALLSTAT indications; DTMF detection: AT+UDTMFD=1 gives +UUDTMFD: <key>
    init=("AT+UCALLSTAT=1", "AT+UDTMFD=1"),
    dtmf_urcs=("+UUDTMFD",),
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (GENERIC, SIMCOM, QUECTEL, HUAWEI, WAVECOM, ZTE, UBLOX)
}


def select_profile(manufacturer: str, model: str = "") -> Profile:
    """The profile for a module's identification; generic when nothing matches."""
    text = f"{manufacturer} {model}".lower()
    for profile in PROFILES.values():
        if any(m in text for m in profile.manufacturers):
            return profile
    return GENERIC


def dtmf_digit(profile: Profile, value: str) -> str | None:
    """The digit a DTMF URC carries: ``+DTMF: 5``, ``^DDTMF: 5``, ``+QTONEDET: 53`` (ASCII)."""
    value = value.split(",")[0].strip().strip('"')
    if profile.name == "quectel" and value.isdigit() and int(value) > 9:
        value = chr(int(value))
    return value if len(value) == 1 and value in "0123456789*#ABCD" else None
