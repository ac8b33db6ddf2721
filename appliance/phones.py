"""Phone numbers by libphonenumber rules: validate, normalize to E.164, and the callee's time zones."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import timezone as pn_timezone

from appliance import phonefast
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


def normalize(text: str, region: str) -> str:
    """The E.164 form of `text`, read as a national number of `region` unless it is international."""
    raw = text.strip()
    if not raw:
        raise InvalidPhone("empty")
    if len(raw) > MAX_PHONE_CHARS:
        raise InvalidPhone(f"longer than {MAX_PHONE_CHARS} characters ({len(raw)})")
    fast = phonefast.parse_valid(raw, region)
    if fast is not None:
        return fast[0]
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"not a valid number for region {phonenumbers.region_code_for_number(number) or region}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65536)
def zones_for(e164: str) -> tuple[str, ...]:
    """Every IANA zone libphonenumber gives for the number (several for e.g. US, CA, RU, AU, BR)."""
    number = phonenumbers.parse(e164, None)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return zones


def zone_key(e164: str) -> str | None:
    """The zones of a number as stored in contacts.tzN: sorted, '|'-joined; None when unknown."""
    fast = phonefast.parse_valid(e164, None)
    if fast is not None:
        return phonefast.zone_key(*fast)
    zones = zones_for(e164)
    return "|".join(sorted(zones)) if zones else None


def normalize_with_zone_key(text: str, region: str) -> tuple[str, str]:
    """`normalize(text, region)` and the number's zone key ('' when libphonenumber knows none)."""
    if len(text) <= MAX_PHONE_CHARS:
        fast = phonefast.parse_valid(text, region)
        if fast is not None:
            return fast[0], phonefast.zone_key(*fast) or ""
    e164 = normalize(text, region)
    return e164, zone_key(e164) or ""
