"""The import's phone fast path agrees with phonenumbers.parse + is_valid_number + E.164 + time zones.

The agreement over every supported region is tests/test_phone_agreement.py; these are sampled
writings of valid and invalid numbers."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from appliance import phones
from appliance.phones.fast import parse_valid, zone_key

REGIONS = [
    "US",
    "CA",
    "GB",
    "DE",
    "PL",
    "FR",
    "IT",
    "ES",
    "NL",
    "CH",
    "SE",
    "NO",
    "BR",
    "AR",
    "MX",
    "IN",
    "AU",
    "NZ",
    "JP",
    "CN",
    "RU",
    "ZA",
    "NG",
    "KE",
    "EG",
    "TR",
    "IL",
    "AE",
    "SA",
    "KR",
    "SG",
    "HK",
    "PH",
    "ID",
    "VN",
    "TH",
    "MY",
    "CO",
    "CL",
    "PE",
    "PR",
    "JM",
    "BB",
    "GU",
    "AG",
    "IM",
    "JE",
    "GG",
    "FI",
    "DK",
    "AT",
    "BE",
    "IE",
    "PT",
    "GR",
    "CZ",
    "HU",
    "RO",
    "UA",
]
TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.UAN,
    PhoneNumberType.PAGER,
)
_PLAIN = re.compile(r"\+?[0-9 ().\-]+")


def library(text: str, region: str) -> tuple[str, str | None] | None:
    """What the full library says: (E.164, zone key) for a valid number, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    zones = sorted(z for z in time_zones_for_number(number) if z != "Etc/Unknown")
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        "|".join(zones) if zones else None,
    )


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A default region and a number as a person might write it (often valid, often not)."""
    region = draw(st.sampled_from(REGIONS))
    home = draw(st.sampled_from([region, region, *REGIONS]))
    example = phonenumbers.example_number_for_type(home, draw(st.sampled_from(TYPES)))
    if example is None:
        example = phonenumbers.example_number(home)
    assert example is not None
    nsn = list(phonenumbers.national_significant_number(example))
    for _ in range(draw(st.integers(0, 3))):  # change some digits
        nsn[draw(st.integers(0, len(nsn) - 1))] = str(draw(st.integers(0, 9)))
    edit = draw(st.sampled_from(["none", "none", "drop", "add"]))
    if edit == "drop" and len(nsn) > 2:
        del nsn[draw(st.integers(0, len(nsn) - 1))]
    elif edit == "add":
        nsn.insert(draw(st.integers(0, len(nsn))), str(draw(st.integers(0, 9))))
    digits = "".join(nsn)
    cc = str(example.country_code)
    national_prefix = phonenumbers.PhoneMetadata.metadata_for_region(home).national_prefix or ""
    shape = draw(
        st.sampled_from(
            [
                "+{cc}{n}",
                "+{cc} {n}",
                "{n}",
                "{np}{n}",
                "{cc}{n}",
                "00{cc}{n}",
                "011{cc}{n}",
                "+{cc}{np}{n}",
                "{cc}{np}{n}",
            ]
        )
    )
    text = shape.format(cc=cc, n=digits, np=national_prefix)
    # Sprinkle the separators people use.
    out = []
    for i, ch in enumerate(text):
        if i and draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from([" ", "-", ".", "(", ")", " ("])))
        out.append(ch)
    if draw(st.booleans()):
        out = [draw(st.sampled_from(["", " ", "("])), *out]
    return region, "".join(out)


random_text = st.tuples(
    st.sampled_from(REGIONS),
    st.text(alphabet=st.sampled_from(list("0123456789 -.()+")), min_size=1, max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(written_numbers(), random_text))
def test_fast_path_agrees_with_the_library(case: tuple[str, str]) -> None:
    region, text = case
    fast = parse_valid(text, region)
    expected = library(text, region)
    if expected is not None:
        assert phones.zone_key(expected[0]) == expected[1]  # from the stored E.164 alone
    if fast is not None:
        assert (fast[0], zone_key(*fast)) == expected
        return
    # The fast path may only pass on what is not plain, or not valid, or non-geographical.
    raw = text.strip().lstrip(" -.()")
    if expected is not None and _PLAIN.fullmatch(raw) and "+" not in raw[1:]:
        number = phonenumbers.parse(text, region)
        assert phonenumbers.region_code_for_number(number) == "001", (text, region, expected)


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_answers_the_usual_ways_of_writing_valid_numbers(region: str) -> None:
    for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        for style in (
            PhoneNumberFormat.E164,
            PhoneNumberFormat.INTERNATIONAL,
            PhoneNumberFormat.NATIONAL,
        ):
            text = phonenumbers.format_number(example, style)
            if not _PLAIN.fullmatch(text):
                continue  # e.g. national formats with a carrier code in letters
            fast = parse_valid(text, region)
            assert fast is not None, (region, text)
            assert (fast[0], zone_key(*fast)) == library(text, region)


def test_normalize_keeps_its_answers_and_reasons() -> None:
    assert phones.normalize("(212) 555-0100", "US") == "+12125550100"
    assert phones.normalize_with_zone_key(" +44 20 7946 0958 ", "US") == (
        "+442079460958",
        "Europe/London",
    )
    with pytest.raises(phones.InvalidPhone, match="not a valid number for region US"):
        phones.normalize("(212) 000-0000", "US")
    with pytest.raises(phones.InvalidPhone, match="not a phone number"):
        phones.normalize("call me", "US")
    assert phones.normalize("tel:+1-212-555-0100", "US") == "+12125550100"  # the library's path


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(["US", "CA", "FR", "JM", "GB", "DE"]),
    digits=st.text(alphabet="0123456789", min_size=2, max_size=13),
)
def test_the_combined_type_regex_agrees_with_the_steps(region: str, digits: str) -> None:
    from appliance.phones.fast import _region

    compiled = _region(region)
    assert compiled is not None
    assert compiled.number_type(digits) == compiled.number_type_stepwise(digits)


def test_first_digits_reads_prefixes_conservatively() -> None:
    from appliance.phones.fast import first_digits

    assert first_digits("011") == frozenset("0")
    assert first_digits("0(?:0|11)") == frozenset("0")
    assert first_digits("[2-4]|7") == frozenset("2347")
    assert first_digits("001[14-689]|14(?:1[14]|34)0011") == frozenset("01")
    assert first_digits("(183[12])|0") == frozenset("10")
    assert first_digits("(?:8)?0") is None  # may start with 8 or 0: optional parts are not guessed
    assert first_digits("0?1") is None
    assert first_digits("8{0,1}1") is None
    assert first_digits("[^1]") is None
    assert first_digits("(?=1)1") is None
    assert first_digits("") is None


def _table_prefixes() -> list[str]:
    from phonenumbers.tzdata import TIMEZONE_DATA

    return sorted(TIMEZONE_DATA)


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(_table_prefixes()),
    tail=st.text(alphabet="0123456789", min_size=0, max_size=12),
    cut=st.integers(0, 3),
    kind=st.sampled_from([*TYPES, PhoneNumberType.FIXED_LINE_OR_MOBILE]),
)
def test_zone_lookup_going_up_finds_the_longest_prefix(
    prefix: str, tail: str, cut: int, kind: int
) -> None:
    from appliance.phones.fast import _country_code, zone_key_stepwise

    digits = (prefix + tail)[: max(len(prefix) - cut, 1) + len(tail)]
    found = _country_code(digits)
    cc = found[0] if found is not None else 1
    e164 = "+" + digits
    assert zone_key(e164, cc, kind) == zone_key_stepwise(e164, cc, kind)
