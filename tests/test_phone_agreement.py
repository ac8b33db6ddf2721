"""The import's phone checks agree with phonenumbers on every supported region's example numbers.

For every region in `phonenumbers.SUPPORTED_REGIONS` and every `PhoneNumberType`, the library's
example number, written in its E.164, international and national formats, read as a number of
that region: the fast path (`phones.fast`), the C row check (`appliance._rowfast`, through
`RowChecker.collector`) and `phones.numbers` give what `phonenumbers.parse` + `is_valid_number`
+ `format_number` + `timezone.time_zones_for_number` give, or leave the number to the library.
"""

from __future__ import annotations

import marshal

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

from appliance import phones
from appliance.importing.reader import _ecm_layout
from appliance.importing.rows import RowChecker, ZoneIds
from appliance.phones import fast

TYPES = [v for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int)]
FORMATS = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def library(text: str, region: str) -> tuple[str, str] | None:
    """(E.164, zone key or "") for a valid number, as the library alone says; else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    zones = sorted(z for z in time_zones_for_number(number) if z != UNKNOWN_TIMEZONE)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), "|".join(zones)


def written(region: str) -> list[str]:
    """Every type's example number of `region` in every format (each text once)."""
    texts: list[str] = []
    for kind in TYPES:
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        for style in FORMATS:
            text = phonenumbers.format_number(example, style)
            if text not in texts:
                texts.append(text)
    return texts


def test_every_type_of_phonenumbers_is_covered() -> None:
    assert PhoneNumberType.UNKNOWN in TYPES and PhoneNumberType.VOICEMAIL in TYPES
    assert len(TYPES) == len(set(TYPES)) >= 12
    assert len(REGIONS) > 240


@pytest.mark.parametrize("region", REGIONS)
def test_the_import_checks_agree_with_the_library(region: str) -> None:
    texts = written(region)
    assert texts, f"{region} has no example numbers"
    checker = RowChecker(_ecm_layout(), region, ZoneIds({"": 1}, 2))
    collector = checker.collector()
    expected: list[object] = []
    for text in texts:
        want = library(text, region)
        found = fast.parse_valid(text, region)
        if found is not None:
            assert want is not None, (region, text, found)
            assert (found[0], fast.zone_key(*found) or "") == want, (region, text)
        if want is None:
            with pytest.raises(phones.InvalidPhone):
                phones.normalize(text, region)
            expected.append("rejected")
            continue
        assert phones.normalize_with_zone_key(text, region) == want, (region, text)
        assert fast.normalize_with_zone_key(text, region) == want, (region, text)
        expected.append(want)
    # The C check (where the region has a plan), one number a row: the kept rows' E.164 and
    # zones, in order; rejects are the Python check's words, checked by tests/test_rowfast.py.
    said = [collector.add(line, [text]) for line, text in enumerate(texts, 1)]
    taken = collector.take()
    rows = iter(marshal.loads(taken) if isinstance(taken, bytes) else taken)
    names = {1: "", **dict(checker.zone_ids.take_new())}
    for text, want, rejects in zip(texts, expected, said, strict=True):
        if rejects is not None:
            assert want == "rejected", (region, text, rejects)
            continue
        row = next(rows)
        assert (row[7], names[row[12]]) == want, (region, text)
    assert next(rows, None) is None
