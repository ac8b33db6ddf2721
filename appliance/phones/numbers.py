"""Phone numbers by libphonenumber's public API: validate, normalize to E.164, and the callee's zones.

These answers decide compliance (the DNC list's numbers, the zones whose calling hours a call
must respect), so they come from `phonenumbers` itself and nothing else; the only speed-up is
a cache of its answers.
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import timezone as pn_timezone

from appliance.domain import MAX_PHONE_CHARS


class InvalidPhone(ValueError):
    """A number that cannot be dialed; the message says why in words a person understands."""


_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_CACHED = 1 << 16  # answers kept per cache: a DNC list or a campaign's repeats, a few MB at most


def normalize(text: str, region: str) -> str:
    """The E.164 form of `text`, read as a national number of `region` unless it is international."""
    raw = text.strip()
    if not raw:
        raise InvalidPhone("empty")
    if len(raw) > MAX_PHONE_CHARS:
        raise InvalidPhone(f"longer than {MAX_PHONE_CHARS} characters ({len(raw)})")
    e164, reason = _read(raw, region)
    if e164 is None:
        raise InvalidPhone(reason)
    return e164


@functools.lru_cache(maxsize=_CACHED)
def _read(raw: str, region: str) -> tuple[str | None, str]:
    """(E.164, "") for a valid number, else (None, why not): `normalize`'s answer, cacheable."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        return None, _PARSE_REASONS.get(exc.error_type, "not a phone number")
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or region
        return None, f"not a valid number for region {where}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


@functools.lru_cache(maxsize=_CACHED)
def zones_for(e164: str) -> tuple[str, ...]:
    """Every IANA zone libphonenumber gives for the number (several for e.g. US, CA, RU, AU, BR)."""
    number = phonenumbers.parse(e164, None)
    return tuple(
        z for z in pn_timezone.time_zones_for_number(number) if z != pn_timezone.UNKNOWN_TIMEZONE
    )


def zone_key(e164: str) -> str | None:
    """The zones of a number as stored in contacts.tzN: sorted, '|'-joined; None when unknown."""
    zones = zones_for(e164)
    return "|".join(sorted(zones)) if zones else None


def normalize_with_zone_key(text: str, region: str) -> tuple[str, str]:
    """`normalize(text, region)` and the number's zone key ('' when libphonenumber knows none)."""
    e164 = normalize(text, region)
    return e164, zone_key(e164) or ""
