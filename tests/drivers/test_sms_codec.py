"""GSM 03.38 and PDU codec: published vectors, round trips and splitting, property-tested."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers.gsm import gsm7, pdu
from appliance.drivers.gsm.sms import Reassembler, split

GSM7_TEXT = st.text(alphabet=st.sampled_from([*gsm7.BASIC.replace("\x1b", ""), "€", "{", "^"]))
ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=700)
NUMBER = st.from_regex(r"\+?[1-9][0-9]{3,14}", fullmatch=True)


def test_published_vectors() -> None:
    assert gsm7.pack(gsm7.encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    submit = pdu.encode_submit(
        "+46708251358", pdu.UserData(0, "hellohello"), request_report=False, validity=0xAA
    )
    assert submit.hex().upper() == "11000B916407281553F80000AA0AE8329BFD4697D9EC37"
    deliver = pdu.decode("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    assert isinstance(deliver, pdu.Deliver)
    assert deliver.smsc == "+27381000015" and deliver.sender == "27838890001"
    assert deliver.data.text == "hellohello"
    # two-digit year 99 reads as 2099: SMS timestamps carry no century
    assert deliver.timestamp == dt.datetime(
        2099, 3, 29, 15, 16, 59, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    report = pdu.decode("0006D60B911326880736F4111011719551401110117195714000")
    assert isinstance(report, pdu.StatusReport)
    assert (report.reference, report.recipient, report.status) == (0xD6, "+31628870634", 0)
    assert report.delivered and report.final


def test_broken_pdus_raise_pdu_error() -> None:
    for bad in ["", "zz", "0006D6", "07917283010010F5"]:
        try:
            pdu.decode(bad)
        except pdu.PduError:
            continue
        raise AssertionError(f"{bad!r} decoded")


@given(GSM7_TEXT, st.integers(0, 6))
def test_gsm7_pack_round_trip(text: str, fill: int) -> None:
    septets = gsm7.encode(text)
    assert gsm7.decode(gsm7.unpack(gsm7.pack(septets, fill), len(septets), fill)) == text


@given(ANY_TEXT, st.integers(0, 255))
def test_split_parts_fit_and_join(text: str, ref: int) -> None:
    parts = split(text, ref)
    assert "".join(p.text for p in parts) == text
    for n, part in enumerate(parts, start=1):
        _udl, ud = pdu.encode_user_data(part)
        assert len(ud) <= 140
        if len(parts) > 1:
            assert part.concat == pdu.Concat(ref, len(parts), n)
    if gsm7.is_gsm7(text):
        assert all(p.dcs == pdu.DCS_GSM7 for p in parts)
        assert (len(parts) == 1) == (len(gsm7.encode(text)) <= 160)


@given(NUMBER, ANY_TEXT, st.integers(0, 255))
def test_submit_round_trip(number: str, text: str, mr: int) -> None:
    for part in split(text, 7):
        decoded = pdu.decode(pdu.encode_submit(number, part, reference=mr).hex(), with_smsc=False)
        assert isinstance(decoded, pdu.Submit)
        assert decoded.recipient == number and decoded.reference == mr
        assert decoded.report_requested
        assert decoded.data == part


@given(NUMBER, ANY_TEXT, st.randoms(use_true_random=False))
def test_deliver_round_trip_and_reassembly_in_any_order(
    number: str, text: str, rng: random.Random
) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=-3.75)))
    pdus = [pdu.encode_deliver(number, p, when, smsc="+4479").hex() for p in split(text, 99)]
    rng.shuffle(pdus)
    assembler = Reassembler()
    results = [
        assembler.add(m) for m in (pdu.decode(p) for p in pdus) if isinstance(m, pdu.Deliver)
    ]
    whole = [r for r in results if r is not None]
    assert len(whole) == 1 and whole[0].text == text and whole[0].sender == number
    assert whole[0].timestamp == when.isoformat()


@given(st.binary(max_size=200))
def test_fuzz_decoder_raises_only_pdu_error(data: bytes) -> None:
    with contextlib.suppress(pdu.PduError):
        pdu.decode(data.hex())


def test_escape_pair_not_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text, 1)
    assert parts[0].text == "a" * 152 and parts[1].text.startswith("€")


def test_status_report_round_trip() -> None:
    t = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    report = pdu.decode(pdu.encode_status_report(12, "+15550001", t, t, 0x46).hex())
    assert isinstance(report, pdu.StatusReport)
    assert report.reference == 12 and not report.delivered and report.final
