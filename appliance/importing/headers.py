"""Header names: which contact field a column's name means (the synonym table), and `--map`.

A name is compared as `header_key` makes it: accents, case, spaces, `_`, `-` and other
punctuation ignored ("Téléphone", "TELEPHONE" and "tele-phone" are one name). The table is the
one docs/config.md shows (Header names); tests/test_import_header.py keeps the two equal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.domain import BP_FIELDS, PHONE_FIELDS
from appliance.errors import DialboxError

# Every field a column can fill (config.models.CONTACT_COLUMNS; the worker does not load config).
FIELDS = (*PHONE_FIELDS, *BP_FIELDS, "external_id", "priority", "timezone", "callback_at",
          "owner_agent")  # fmt: skip
PHONE = "phone"  # a phone column without a number: the next free of phone1..phone5
IGNORE = "ignore"  # a column read by name and left out
ANY = "*"  # in a map: every column no name or entry places (only to ignore them)

# What each parameter holds when a file is read by its header's names. BP1 (the name), BP3 (the
# amount due) and BP4..BP9, BP11 are where the sample file and the config example keep them; a
# CRM's last name takes BP2, so the sample's account moves to BP10.
BP_MEANINGS = {
    "bp1": "first name (or the whole name)",
    "bp2": "last name",
    "bp3": "amount",
    "bp4": "e-mail",
    "bp5": "tier",
    "bp6": "due date",
    "bp7": "language",
    "bp8": "segment",
    "bp9": "branch",
    "bp10": "account",
    "bp11": "notes",
    "bp12": "company",
}

# field -> the names that mean it (beside the field's own name: "bp3", "BP 3", "external_id").
# English first; then a few French, German, Spanish, Italian and Polish words.
SYNONYMS: dict[str, tuple[str, ...]] = {
    PHONE: (
        "phone", "mobile", "cell", "telephone", "tel", "phone number", "mobile phone",
        "mobile number", "cell phone", "cellular", "msisdn", "number", "home phone",
        "work phone", "business phone", "office phone", "landline", "other phone",
        "direct phone", "main phone", "alternate phone", "alt phone", "gsm",
        "telefon", "telefono", "telefonnummer", "numero de telephone", "numer telefonu",
        "handy", "portable", "movil", "celular", "cellulare", "komorka",
    ),
    "bp1": ("first name", "name", "full name", "given name", "forename", "contact name",
            "customer name", "client name", "prenom", "vorname", "nombre", "imie"),
    "bp2": ("last name", "surname", "family name", "lastname", "nom", "nachname", "apellido",
            "apellidos", "cognome", "nazwisko"),
    "bp3": ("amount", "amount due", "balance", "balance due", "amount owed", "due amount",
            "outstanding", "debt", "montant", "betrag", "importe", "importo", "kwota", "saldo"),
    "bp4": ("email", "e-mail", "email address", "mail", "courriel", "correo",
            "correo electronico"),
    "bp5": ("tier", "category", "level", "grade", "rating"),
    "bp6": ("due date", "date due", "due by", "deadline"),
    "bp7": ("language", "lang", "locale", "preferred language", "langue", "sprache", "idioma",
            "lingua", "jezyk"),
    "bp8": ("segment", "group", "customer type"),
    "bp9": ("branch", "office", "store", "location"),
    "bp10": ("account", "account number", "account no", "acct", "contract", "policy",
             "invoice"),
    "bp11": ("notes", "note", "comment", "comments", "remarks", "memo", "description"),
    "bp12": ("company", "company name", "organization", "organisation", "employer", "business",
             "firma", "empresa", "societe"),
    "external_id": ("external id", "id", "crm id", "crm key", "customer id", "client id",
                    "contact id", "record id", "lead id", "customer number", "client number",
                    "reference", "ref", "uid"),
    "priority": ("priority", "prio", "rank"),
    "timezone": ("timezone", "time zone", "tz", "tz override", "zone"),
    "callback_at": ("callback at", "callback", "call back", "callback time", "callback date",
                    "call back at", "recall", "recall at"),
    "owner_agent": ("owner agent", "owner", "agent", "assigned agent", "assigned to",
                    "account owner", "rep", "sales rep"),
}  # fmt: skip

_NON_ALNUM = re.compile(r"[\W_]+")
# A phone or parameter name with its number: "Phone 2", "mobile_3", "BP 12", "Parameter 4".
_NUMBERED = re.compile(r"(\D+?)(?:number|no|nr)?([0-9]+)")
_BP_STEMS = frozenset({"bp", "businessparameter", "parameter", "param"})
# Phone names a number may follow ("phone2"; "home phone 2" is not a slot of its own).
_PHONE_STEMS = frozenset({"phone", "telephone", "tel", "mobile", "cell", "msisdn", "telefon",
                          "phonenumber", "telephonenumber"})  # fmt: skip
MAX_SHOWN = 60  # a column's name quoted in a message is cut to this many characters


def header_key(text: str) -> str:
    """A name as compared: accents, case, spaces and punctuation ignored ("Télé-phone 1" ==
    "telephone1")."""
    if text.isascii():
        return _NON_ALNUM.sub("", text).lower()
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return _NON_ALNUM.sub("", plain.casefold())


def _table() -> dict[str, str]:
    by_key: dict[str, str] = {}
    for field, names in (*((f, (f,)) for f in FIELDS), *SYNONYMS.items()):
        for name in names:
            key = header_key(name)
            if by_key.setdefault(key, field) != field:  # pragma: no cover - the table is fixed
                raise AssertionError(f"header name {name!r} means two fields")
    by_key[header_key("tz_override")] = "timezone"
    return by_key


_BY_KEY = _table()


def field_of(key: str) -> str | None:
    """The field a header key names: one of FIELDS, PHONE (a phone column without a number), or
    None when the name is not known."""
    found = _BY_KEY.get(key)
    if found is not None:
        return found
    numbered = _NUMBERED.fullmatch(key)
    if numbered is not None:
        stem, number = numbered.group(1), int(numbered.group(2))
        if stem in _PHONE_STEMS and 1 <= number <= len(PHONE_FIELDS):
            return f"phone{number}"
        if stem in _BP_STEMS and 1 <= number <= len(BP_FIELDS):
            return f"bp{number}"
    return None


def short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def accepted_names() -> str:
    """The names a header may use, field by field (a few of each; docs/config.md has them all)."""
    parts = [f"phone1..phone5 (or {', '.join(SYNONYMS[PHONE][:6])}, …: the next free phone)"]
    for field in BP_FIELDS:
        parts.append(f"{field} ({', '.join(SYNONYMS[field][:3])}, …)")
    for field in FIELDS[len(PHONE_FIELDS) + len(BP_FIELDS) :]:
        parts.append(f"{field} ({', '.join(SYNONYMS[field][:3])}, …)")
    return "; ".join(parts)


TARGETS = f"{', '.join(FIELDS)}, {PHONE} (the next free phone) or {IGNORE} (leave it out)"


class MapError(DialboxError):
    """A `--map` (or `map=`, or config `import.map`) entry that cannot be used."""


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One column placed by hand: `--map 'Kundentyp=bp5'`. `given` entries came with the file
    (the CLI's --map, the upload's map=) and must name a column it has; the config's
    `import.map` applies to every file that has the column."""

    column: str  # as written; ANY for "every other column"
    field: str  # one of FIELDS, PHONE or IGNORE
    given: bool = True

    @property
    def key(self) -> str:
        return ANY if self.column == ANY else header_key(self.column)

    def shown(self) -> str:
        return f"{short(self.column)}={self.field}"


def target_of(text: str) -> str | None:
    """A map's field as written ("bp3", "BP 3", "Phone_2", "ignore") as FIELDS has it."""
    key = header_key(text)
    if key in (PHONE, IGNORE):
        return key
    return {header_key(f): f for f in FIELDS}.get(key) or (
        "timezone" if key == "tzoverride" else None
    )


def map_entry(column: str, field: str, *, given: bool, source: str) -> MapEntry:
    """Check one entry; `source` names where it came from in the refusal ("--map 'X=bp13'")."""
    if not column.strip() or (column != ANY and not header_key(column)):
        raise MapError(f"{source}: name the column before '=' (e.g. 'Customer Tier=bp5')")
    target = target_of(field)
    if target is None:
        raise MapError(f"{source}: {field.strip()!r} is not a contact field; use one of {TARGETS}")
    if column == ANY and target != IGNORE:
        raise MapError(f"{source}: '*' may only be ignored ('*=ignore': leave out every column "
                       "no name places)")  # fmt: skip
    return MapEntry(column.strip() if column != ANY else ANY, target, given)


def parse_map(pairs: Iterable[str], *, option: str = "--map") -> tuple[MapEntry, ...]:
    """`COLUMN=FIELD` strings (the CLI's --map, the upload's map=) as entries; the same column
    twice is refused."""
    entries: list[MapEntry] = []
    for pair in pairs:
        column, equals, field = pair.rpartition("=")
        source = f"{option} {short(pair)!r}"
        if not equals:
            raise MapError(f"{source}: write COLUMN=FIELD, e.g. {option} 'Customer Tier=bp5'")
        entries.append(map_entry(column, field, given=True, source=source))
    return _unique(entries, option)


def config_map(columns: Mapping[str, str]) -> tuple[MapEntry, ...]:
    """The config's `import.map` (column -> field) as entries that apply where the column is."""
    entries = [
        map_entry(column, field, given=False, source=f"import.map {short(column)!r}")
        for column, field in columns.items()
    ]
    return _unique(entries, "import.map")


def _unique(entries: list[MapEntry], option: str) -> tuple[MapEntry, ...]:
    seen: dict[str, MapEntry] = {}
    for entry in entries:
        before = seen.setdefault(entry.key, entry)
        if before is not entry:
            raise MapError(
                f"{option}: the column {short(entry.column)!r} is mapped twice "
                f"({before.shown()}, {entry.shown()}); keep one"
            )
    return tuple(entries)


def merged(config: Iterable[MapEntry], given: Iterable[MapEntry]) -> tuple[MapEntry, ...]:
    """The config's entries and the file's, the file's winning for the same column."""
    by_key = {e.key: e for e in config}
    by_key.update((e.key, e) for e in given)
    return tuple(by_key.values())
