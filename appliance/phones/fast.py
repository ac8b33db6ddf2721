"""The contact import's fast phone check: libphonenumber's parse + is_valid_number for plain input.

Used by the import's row check only (appliance/importing/rows.py and the C check it feeds);
DNC normalisation and the zones of calling hours use `phones.numbers`, the library itself.

`phonenumbers.parse` + `is_valid_number` cost 30–70 µs a number in pure Python, most of it in
generic machinery (Unicode digit folding, extension and RFC 3966 handling, regexes looked up in
a cache on every call). For the shape nearly every file uses — ASCII digits, spaces, `-`, `.`,
`(`, `)` and an optional leading `+` — this module follows the same steps with the library's
public metadata (`PhoneMetadata`, `COUNTRY_CODE_TO_REGION_CODE`, `tzdata.TIMEZONE_DATA`),
compiled once per region: IDD and country code detection, the default country code rule,
national prefix stripping, possible lengths and the number-type patterns in the library's
order. It answers only for numbers that come out valid; anything else (other characters,
unusual regions, every invalid number) returns None and the caller asks the library itself,
which also words the reason. tests/test_phone_agreement.py holds the two to
the same answers over every type's example number of every supported region.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumberType,
    is_number_type_geographical,
)
from phonenumbers.timezone import UNKNOWN_TIMEZONE
from phonenumbers.tzdata import TIMEZONE_DATA

from appliance.domain import MAX_PHONE_CHARS
from appliance.phones import numbers

_NON_GEO = "001"  # libphonenumber's region for non-geographical country codes
_MIN_NSN, _MAX_NSN = 2, 17  # libphonenumber's _MIN_LENGTH_FOR_NSN and _MAX_LENGTH_FOR_NSN
_MAX_CC = 3

# The order in which libphonenumber's _number_type_helper tries the types; fixed line and
# mobile come after these, with their own rule.
_TYPE_ORDER = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


@dataclass(frozen=True, slots=True)
class _Desc:
    lengths: frozenset[int]  # empty: any length (then the general description already judged it)
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        """libphonenumber's _is_number_matching_desc."""
        return (not self.lengths or len(nsn) in self.lengths) and self.pattern.fullmatch(
            nsn
        ) is not None


def _desc(desc: object) -> _Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    return _Desc(frozenset(getattr(desc, "possible_length", ()) or ()), re.compile(pattern))


def _length_guard(lengths: frozenset[int]) -> str:
    """A lookahead that holds when the whole (all-digit) string has one of `lengths`."""
    if not lengths:
        return ""
    return "(?=(?:" + "|".join(f"\\d{{{n}}}" for n in sorted(lengths)) + ")\\Z)"


def _classifier(
    general: _Desc | None,
    types: tuple[tuple[int, _Desc], ...],
    fixed: _Desc | None,
    mobile: _Desc | None,
    same_mobile_and_fixed: bool,
) -> tuple[re.Pattern[str], dict[str, int]] | None:
    """_number_type_helper as one regex: the alternatives in the library's order, each guarded by
    its possible lengths; the first that matches the whole number names the type."""
    if general is None:
        return None
    alternatives: list[tuple[int, str]] = [(kind, _guarded(desc)) for kind, desc in types]
    if fixed is not None:
        if same_mobile_and_fixed:
            alternatives.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, _guarded(fixed)))
        else:
            if mobile is not None:
                both = f"(?=(?:{_guarded(mobile)})\\Z){_guarded(fixed)}"
                alternatives.append((PhoneNumberType.FIXED_LINE_OR_MOBILE, both))
            alternatives.append((PhoneNumberType.FIXED_LINE, _guarded(fixed)))
    if not same_mobile_and_fixed and mobile is not None:
        alternatives.append((PhoneNumberType.MOBILE, _guarded(mobile)))
    if not alternatives:
        return None
    names = {f"k{i}": kind for i, (kind, _) in enumerate(alternatives)}
    body = "|".join(f"(?P<k{i}>{text})" for i, (_, text) in enumerate(alternatives))
    pattern = re.compile(f"(?=(?:{_guarded(general)})\\Z)(?:{body})")
    if pattern.groups != len(names):
        return None  # a metadata pattern with groups of its own: use the step-by-step helper
    return pattern, names


def _guarded(desc: _Desc) -> str:
    return f"{_length_guard(desc.lengths)}(?:{desc.pattern.pattern})"


@dataclass(frozen=True)
class _Region:
    code: str
    metadata: PhoneMetadata
    cc: int
    general: _Desc | None
    general_pattern: re.Pattern[str] | None
    lengths: tuple[int, ...]  # general possible lengths, sorted
    local_lengths: frozenset[int]
    types: tuple[tuple[int, _Desc], ...]
    fixed: _Desc | None
    mobile: _Desc | None
    same_mobile_and_fixed: bool
    leading_digits: re.Pattern[str] | None
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    transform_rule: str | None
    cc_text: str
    classifier: tuple[re.Pattern[str], dict[str, int]] | None
    # A national number starting with one of these cannot begin with the international prefix,
    # the country code or the national prefix: parse() takes it as it is.
    plain_first: frozenset[str]

    def number_type(self, nsn: str) -> int:
        """libphonenumber's _number_type_helper: the classifier, or its steps."""
        if self.classifier is not None:
            match = self.classifier[0].fullmatch(nsn)
            if match is None:
                return PhoneNumberType.UNKNOWN
            return self.classifier[1][match.lastgroup or ""]
        return self.number_type_stepwise(nsn)

    def number_type_stepwise(self, nsn: str) -> int:
        """libphonenumber's _number_type_helper step by step (kept to check the classifier)."""
        if self.general is None or not self.general.matches(nsn):
            return PhoneNumberType.UNKNOWN
        for kind, desc in self.types:
            if desc.matches(nsn):
                return kind
        if self.fixed is not None and self.fixed.matches(nsn):
            if self.same_mobile_and_fixed or (self.mobile is not None and self.mobile.matches(nsn)):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed and self.mobile is not None and self.mobile.matches(nsn):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN

    def length_ok_for_stripping(self, nsn: str) -> bool:
        """_test_number_length(nsn) not in (TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY, INVALID_LENGTH)."""
        n = len(nsn)
        if n in self.local_lengths or not self.lengths:
            return False
        return n in self.lengths or n > self.lengths[-1]

    def too_long(self, nsn: str) -> bool:
        """_test_number_length(nsn) == TOO_LONG."""
        n = len(nsn)
        return bool(self.lengths) and n not in self.local_lengths and n > self.lengths[-1]

    def general_match(self, digits: str) -> bool:
        """_match_national_number(digits, general_desc, False): the pattern alone, no lengths."""
        return (
            self.general_pattern is not None and self.general_pattern.fullmatch(digits) is not None
        )

    def national_prefix_stripped(self, digits: str) -> str | None:
        """The number libphonenumber's _maybe_strip_national_prefix_carrier_code returns, restated
        on the public metadata: `digits` without the national prefix (or carrier code) that
        national_prefix_for_parsing matches — or rewritten by national_prefix_transform_rule
        when its last group took part (AR: 0 11 15 2345-6789 -> 11 9 2345-6789) — unless only
        the original fits the general pattern; `digits` as they are when nothing matches. None
        when the metadata has a rule but no group (the library itself fails there)."""
        if self.national_prefix is None or not digits:
            return digits
        match = self.national_prefix.match(digits)
        if match is None:
            return digits
        groups = match.groups()
        if self.transform_rule and not groups:
            return None
        if self.transform_rule and groups[-1] is not None:
            # re.sub's first match is this one: match() found it at the start
            result = self.national_prefix.sub(self.transform_rule, digits, count=1)
        else:
            result = digits[match.end() :]
        if self.general_match(digits) and not self.general_match(result):
            return digits
        return result


@functools.cache
def _region(code: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(code, None)
    if metadata is None or metadata.general_desc is None or metadata.country_code is None:
        return None
    general = metadata.general_desc
    types = tuple(
        (kind, desc)
        for name, kind in _TYPE_ORDER
        if (desc := _desc(getattr(metadata, name))) is not None
    )
    fixed, mobile = _desc(metadata.fixed_line), _desc(metadata.mobile)
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    idd, national_prefix = metadata.international_prefix, metadata.national_prefix_for_parsing
    return _Region(
        code=code,
        metadata=metadata,
        cc=metadata.country_code,
        general=_desc(general),
        general_pattern=re.compile(general.national_number_pattern)
        if general.national_number_pattern
        else None,
        lengths=tuple(sorted(general.possible_length or ())),
        local_lengths=frozenset(general.possible_length_local_only or ()),
        types=types,
        fixed=fixed,
        mobile=mobile,
        same_mobile_and_fixed=same,
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits else None,
        idd=re.compile(idd) if idd else None,
        national_prefix=re.compile(national_prefix) if national_prefix else None,
        transform_rule=metadata.national_prefix_transform_rule or None,
        cc_text=str(metadata.country_code),
        classifier=_classifier(_desc(general), types, fixed, mobile, same),
        plain_first=_plain_first(idd, str(metadata.country_code), national_prefix),
    )


def _plain_first(idd: str | None, cc_text: str, national_prefix: str | None) -> frozenset[str]:
    unsafe = set(cc_text[:1])
    for prefix in (idd, national_prefix):
        if prefix:
            chars = first_digits(prefix)
            if chars is None:
                return frozenset()
            unsafe |= chars
    return frozenset("0123456789") - unsafe


def _country_code(digits: str) -> tuple[int, str] | None:
    """libphonenumber's _extract_country_code: the shortest known code at the start."""
    if not digits or digits[0] == "0":
        return None
    codes = _country_codes()
    for i in range(1, min(len(digits), _MAX_CC) + 1):
        cc = codes.get(digits[:i])
        if cc is not None:
            return cc, digits[i:]
    return None


@functools.cache
def _country_codes() -> dict[str, int]:
    """The known country codes as written (no leading zero: int() of these reads them back)."""
    return {str(cc): cc for cc in COUNTRY_CODE_TO_REGION_CODE}


@functools.cache
def _regions_of(cc: int) -> tuple[_Region, ...]:
    """The regions sharing a country code, in the library's order (main region first)."""
    codes = COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    return tuple(r for code in codes if code != _NON_GEO and (r := _region(code)) is not None)


def _type_in_region(cc: int, nsn: str) -> int:
    """The number's type in the region libphonenumber's region_code_for_number picks; UNKNOWN
    when that is none (is_valid_number is then false)."""
    regions = _regions_of(cc)
    if len(regions) == 1:
        return regions[0].number_type(nsn)
    for region in regions:
        if region.leading_digits is not None:
            if region.leading_digits.match(nsn):
                return region.number_type(nsn)
        else:
            kind = region.number_type(nsn)
            if kind != PhoneNumberType.UNKNOWN:
                return kind
    return PhoneNumberType.UNKNOWN


def parse_valid(text: str, default_region: str | None) -> tuple[str, int, int] | None:
    """(E.164, country code, PhoneNumberType) when `text` is plain and libphonenumber would find it
    valid; None: ask the library."""
    # Plain means digits and these separators; the library skips anything before a leading '+'.
    digits = (
        text.strip()
        .replace(" ", "")
        .replace("-", "")
        .replace("(", "")
        .replace(")", "")
        .replace(".", "")
    )
    plus = digits[:1] == "+"
    if plus:
        digits = digits[1:]
    if len(digits) < 3 or not digits.isdigit() or not digits.isascii():
        return None
    home = _region(default_region) if default_region else None
    if not plus and home is not None and digits[0] in home.plain_first and len(digits) <= _MAX_NSN:
        # The usual case, a national number as written: nothing to strip, no code to read.
        kind = _type_in_region(home.cc, digits)
        if kind == PhoneNumberType.UNKNOWN:
            return None
        return f"+{home.cc_text}{digits}", home.cc, kind
    extracted = True  # a country code was read from the number (else: the default region's)
    if plus:
        found = _country_code(digits)
        if found is None:
            return None
        cc, national = found
    elif home is None:
        return None
    else:
        cc, national, extracted = home.cc, digits, False
        idd = home.idd.match(digits) if home.idd is not None else None
        if idd is not None and digits[idd.end() : idd.end() + 1] != "0":
            rest = digits[idd.end() :]
            found = _country_code(rest)
            if found is None or len(rest) <= _MIN_NSN:
                return None
            (cc, national), extracted = found, True
        elif digits.startswith(home.cc_text):
            # The default country code written without '+': kept only when that helps.
            potential = home.national_prefix_stripped(digits[len(home.cc_text) :])
            if potential is None:
                return None
            if _take_after_cc(home, digits, potential):
                national, extracted = potential, True
    number_region = home
    if extracted:
        # parse() reads an extracted code with its main region's metadata unless that is the default.
        regions = _regions_of(cc)
        if not regions or COUNTRY_CODE_TO_REGION_CODE[cc][0] == _NON_GEO:
            return None
        if home is None or regions[0].code != home.code:
            number_region = regions[0]
    if number_region is None or len(national) < _MIN_NSN:
        return None
    stripped = number_region.national_prefix_stripped(national)
    if stripped is None:
        return None
    if number_region.length_ok_for_stripping(stripped):
        national = stripped
    if len(national) > _MAX_NSN:
        return None
    kind = _type_in_region(cc, national)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return f"+{cc}{national}", cc, kind


@functools.cache
def _zone_table() -> tuple[dict[str, str | None], dict[str, tuple[int, ...]]]:
    """libphonenumber's prefix -> zones data as zone keys, and the prefix lengths per first digit."""
    table = {prefix: _join(zones) for prefix, zones in TIMEZONE_DATA.items()}
    lengths: dict[str, set[int]] = {}
    for prefix in TIMEZONE_DATA:
        lengths.setdefault(prefix[:1], set()).add(len(prefix))
    return table, {d: tuple(sorted(n, reverse=True)) for d, n in lengths.items()}


@functools.cache
def _zone_steps() -> dict[str, tuple[tuple[int, frozenset[str]], ...]]:
    """Per first digit, the table's prefix lengths, shortest first, each with the prefixes of that
    length that begin a longer prefix in the table: the longest match is found going up and
    stopping at the first prefix nothing longer begins with."""
    table, lengths = _zone_table()
    steps: dict[str, tuple[tuple[int, frozenset[str]], ...]] = {}
    for first, descending in lengths.items():
        ascending = sorted(descending)
        steps[first] = tuple(
            (
                length,
                frozenset(p[:length] for p in table if p[:1] == first and len(p) > length),
            )
            for length in ascending
        )
    return steps


def _join(zones: tuple[str, ...]) -> str | None:
    known = sorted(z for z in zones if z != UNKNOWN_TIMEZONE)
    return "|".join(known) if known else None


@functools.cache
def _country_zone_key(cc: int) -> str | None:
    """The zones time_zones_for_number gives a non-geographical number of country code `cc`:
    the table's entry for the longest prefix of the code itself."""
    return _longest_prefix(str(cc))


def _longest_prefix(digits: str) -> str | None:
    table, lengths = _zone_table()
    for length in lengths.get(digits[:1], ()):
        prefix = digits[:length]
        if prefix in table:
            return table[prefix]
    return None


def zone_key(e164: str, cc: int, kind: int) -> str | None:
    """phones.zone_key of a valid number of this type (timezone.time_zones_for_number)."""
    if not is_number_type_geographical(kind, cc):
        return _country_zone_key(cc)
    table = _zone_table()[0]
    digits = e164[1:]
    found = None
    for length, longer in _zone_steps().get(digits[:1], ()):
        prefix = digits[:length]
        if prefix in table:
            found = table[prefix]
        if prefix not in longer:
            break
    return found


def zone_key_stepwise(e164: str, cc: int, kind: int) -> str | None:
    """`zone_key` as libphonenumber looks it up, longest prefix first (kept to check it)."""
    if not is_number_type_geographical(kind, cc):
        return _country_zone_key(cc)
    return _longest_prefix(e164[1:])


def all_zone_keys() -> frozenset[str]:
    """Every zone key a number can have ('' for none): libphonenumber takes them all from its
    prefix table, for geographical and country-level answers alike."""
    table, _ = _zone_table()
    return frozenset(key or "" for key in table.values()) | {""}


@dataclass(frozen=True)
class Plan:
    """What the import's C row check (appliance._rowfast) needs to read a region's plain numbers
    as `parse_valid` + `zone_key` do: digit sets (as strings) for the first digit of the national
    number in each written form, the main region's type function, and the zone table. Every
    judgement it cannot make from these it leaves to this module."""

    cc: str
    usual_first: str  # a national number as written, no prefix to strip (parse_valid's usual case)
    plus_first: str  # after +cc: digits that cannot begin the main region's national prefix
    home_np_safe: str  # the same for both the home and the main region's national prefix
    cc_choice: Callable[[str, str], bool] | None  # cc written without '+': take what follows?
    number_type: Callable[[str], int]
    unknown_kind: int
    geo_kinds: int  # bit k: a number of type k has geographical zones (in this country code)
    country_zone: str | None
    zone_table: dict[str, str | None]
    zone_steps: tuple[tuple[int, frozenset[str]], ...]


def _safe_after(prefix: re.Pattern[str] | None) -> frozenset[str]:
    """Digits a number can start with and not begin `prefix` (all, without one; none, if unsure)."""
    if prefix is None:
        return _DIGITS
    chars = first_digits(prefix.pattern)
    return frozenset() if chars is None else _DIGITS - chars


_DIGITS = frozenset("0123456789")


def _digits(chars: frozenset[str]) -> str:
    return "".join(sorted(chars))


@functools.cache
def plan(code: str) -> Plan | None:
    """The C row check's plan for numbers of region `code`; None when its shortcuts don't hold
    (then every number goes through `parse_valid` and the library)."""
    home = _region(code)
    if home is None:
        return None
    regions = _regions_of(home.cc)
    if not regions or COUNTRY_CODE_TO_REGION_CODE[home.cc][0] == _NON_GEO:
        return None
    main = regions[0]
    if len(regions) > 1 and main.leading_digits is not None:
        return None  # _type_in_region would test the leading digits: leave it to Python
    codes = _country_codes()
    if any(home.cc_text[:i] in codes for i in range(1, len(home.cc_text))):
        return None  # a shorter code would be read first
    home_np_safe = _safe_after(home.national_prefix) & _safe_after(main.national_prefix)
    idd_first = first_digits(home.idd.pattern) if home.idd is not None else frozenset()
    cc_ok = (
        idd_first is not None
        and home.cc_text[0] not in idd_first
        and home.cc_text[0] not in home.plain_first
    )
    return Plan(
        cc=home.cc_text,
        usual_first=_digits(home.plain_first),
        plus_first=_digits(_safe_after(main.national_prefix)),
        home_np_safe=_digits(home_np_safe),
        cc_choice=functools.partial(_take_after_cc, home) if cc_ok else None,
        number_type=main.number_type,
        unknown_kind=PhoneNumberType.UNKNOWN,
        geo_kinds=sum(
            1 << kind
            for kind in _number_types()
            if kind < 64 and is_number_type_geographical(kind, home.cc)
        ),
        country_zone=_country_zone_key(home.cc),
        zone_table=_zone_table()[0],
        zone_steps=_zone_steps().get(home.cc_text[0], ()),
    )


def _number_types() -> list[int]:
    """Every PhoneNumberType value (a plain class of ints in phonenumbers, not an enum)."""
    return [v for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int)]


def _take_after_cc(home: _Region, digits: str, potential: str) -> bool:
    """parse_valid's choice for the home country code written without '+' (when nothing in
    `potential`, what follows it, can begin the national prefix): read `potential` as the number?"""
    return (not home.general_match(digits) and home.general_match(potential)) or home.too_long(
        digits
    )


def first_digits(pattern: str) -> frozenset[str] | None:
    """The digits a match of `pattern` can begin with; None when unsure.

    Read conservatively, for the short prefix patterns of libphonenumber's metadata (e.g. `011`,
    `0(?:0|11)`, `[2-4]|7`): every top-level alternative must begin with a digit, `\\d`, a class
    of digits and digit ranges, or a group of such alternatives, none of them optional; anything
    else (`?`, `*`, `{`, lookarounds, other characters) answers None, and the fast path then
    leaves every number of that region to the library."""
    found: set[str] = set()
    for branch in _alternatives(pattern):
        first = _first_atom(branch)
        if first is None:
            return None
        found |= first
    return frozenset(found)


def _alternatives(pattern: str) -> list[str]:
    """`pattern` cut at its top-level '|'."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i = pattern.find("]", i + 1)
            if i < 0:
                return [""]  # unbalanced: let the caller answer None
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _first_atom(branch: str) -> frozenset[str] | None:
    """What the first atom of `branch` matches, when it must match one character."""
    chars: frozenset[str] | None
    if branch[:1].isdigit() and branch[:1].isascii():
        chars, end = frozenset(branch[0]), 1
    elif branch.startswith("\\d"):
        chars, end = _DIGITS, 2
    elif branch.startswith("["):
        end = branch.find("]") + 1
        chars = _digit_class(branch[1 : end - 1]) if end > 0 else None
    elif branch.startswith("("):
        end, depth = 0, 0
        for i, c in enumerate(branch):  # metadata prefixes have no escaped parentheses
            depth += (c == "(") - (c == ")")
            if depth == 0:
                end = i + 1
                break
        inner = branch[1 : end - 1] if end else ""
        if inner.startswith("?:"):
            inner = inner[2:]
        chars = None if not inner or inner.startswith("?") else first_digits(inner)
    else:
        return None
    if chars is None or branch[end : end + 1] in ("?", "*", "{"):
        return None
    return chars


def _digit_class(body: str) -> frozenset[str] | None:
    """The digits of a character class body like `14-689`; None for anything but digits and ranges."""
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if not (body[i].isdigit() and body[i].isascii()):
            return None
        if body[i + 1 : i + 2] == "-" and i + 2 < len(body):
            low, high = body[i], body[i + 2]
            if not (high.isdigit() and high.isascii()) or high < low:
                return None
            chars.update(chr(c) for c in range(ord(low), ord(high) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    return frozenset(chars) if chars else None


def normalize_with_zone_key(text: str, region: str) -> tuple[str, str]:
    """`numbers.normalize_with_zone_key`, answered here when the number is plain and valid."""
    if len(text) <= MAX_PHONE_CHARS:
        found = parse_valid(text, region)
        if found is not None:
            return found[0], zone_key(*found) or ""
    return numbers.normalize_with_zone_key(text, region)
