"""Imports by header name (#22): a header row is read by its names, the ECM layout stays, and
what cannot be read so is refused whole, saying which line, what was found and what to do."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from appliance.config.models import ColumnMapping, ImportSettings
from appliance.domain import CampaignType
from appliance.errors import DialboxError
from appliance.importing.headers import (
    FIELDS,
    SYNONYMS,
    MapError,
    config_map,
    field_of,
    header_key,
    merged,
    parse_map,
)
from appliance.importing.importer import ImportReport, import_file
from appliance.importing.layout import FileProblem, choose_layout
from appliance.importing.preview import preview_file
from appliance.store import Database, open_database
from appliance.store.campaigns import CampaignRow, create_campaign

NOW = 1_767_225_600.0
CRM = (
    b"phone,mobile,first_name,last_name,email,amount\n"
    b"(212) 555-0100,+1 415 555 0199,Jane,Doe,jane@example.com,12.50\n"
    b"2125550101,,John,Smith,john@example.com,7\n"
)
DOCS = Path(__file__).parents[1] / "docs" / "config.md"


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "d.db")


@pytest.fixture()
def campaign(db: Database) -> CampaignRow:
    return create_campaign(db, "Spring", CampaignType.AGENT, "US", {}, NOW, "test")


def run(db: Database, campaign: CampaignRow, data: bytes, *maps: str, **kw: object) -> ImportReport:
    options: dict[str, object] = {"region": "US", "mappings": {}, "now": NOW, "actor": "t"}
    options.update(kw)
    return import_file(db, campaign, io.BytesIO(data), source="f.csv",
                       column_map=parse_map(maps), **options)  # type: ignore[arg-type]  # fmt: skip


def refused(db: Database, campaign: CampaignRow, data: bytes, *maps: str, **kw: object) -> str:
    with pytest.raises(FileProblem) as problem:
        run(db, campaign, data, *maps, **kw)
    assert db.scalar("SELECT count(*) FROM imports") == 0  # nothing of it anywhere
    assert db.scalar("SELECT count(*) FROM contacts") == 0
    return str(problem.value)


def rows(db: Database, columns: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.conn.execute(f"SELECT {columns} FROM contacts ORDER BY id")]


# -- the must-show files --------------------------------------------------------------------


def test_a_crm_export_imports_by_its_header_names_without_a_mapping(
    db: Database, campaign: CampaignRow
) -> None:
    report = run(db, campaign, CRM)
    assert (report.layout, report.imported, report.rejected) == ("header", 2, 0)
    assert report.columns == [
        ("phone", "phone1"),
        ("mobile", "phone2"),
        ("first_name", "bp1"),
        ("last_name", "bp2"),
        ("email", "bp4"),
        ("amount", "bp3"),
    ]
    assert rows(db, "e164_1, e164_2, bp1, bp2, bp3, bp4") == [
        ("+12125550100", "+14155550199", "Jane", "Doe", "12.50", "jane@example.com"),
        ("+12125550101", None, "John", "Smith", "7", "john@example.com"),
    ]
    assert report.as_dict()["columns"][0] == {"column": "phone", "field": "phone1"}


def test_an_unknown_column_is_refused_naming_the_accepted_names_and_how_to_map_it(
    db: Database, campaign: CampaignRow
) -> None:
    message = refused(db, campaign, b"phone,first_name,Kundentyp\n2125550100,Jane,gold\n")
    assert message.startswith("f.csv: line 1: unknown column 'Kundentyp' (column 3)")
    assert "Accepted names" in message
    for name in ("phone1..phone5", "mobile", "bp1 (first name", "bp4 (email", "external_id"):
        assert name in message
    assert "--map 'Kundentyp=bp6'" in message and "--map '*=ignore'" in message


def test_the_issues_file_is_read_by_name_not_as_phone1_to_phone4(
    db: Database, campaign: CampaignRow
) -> None:
    """#22: `Phone1,Name,Tier,Amount` was read as Phone1..Phone4: 0 imported, 8 rejected."""
    data = b"Phone1,Name,Tier,Amount\n" + b"".join(
        f"212555{n:04d},Name {n},gold,{n}.00\n".encode() for n in range(8)
    )
    report = run(db, campaign, data)
    assert (report.imported, report.rejected) == (8, 0)
    assert rows(db, "bp1, bp3, bp5, bp6, bp7")[0] == ("Name 0", "0.00", "gold", None, None)


def test_the_ecm_header_with_its_own_parameter_names_is_still_read_by_position(
    db: Database, campaign: CampaignRow
) -> None:
    """Phone1..Phone5 first: the columns after them are BP1..BP12 whatever their names."""
    data = (
        b"Phone1,Phone2,Phone3,Phone4,Phone5,Account,Email,Tier\n"
        b"2125550100,,,,,AC-1,a@example.com,gold\n"
    )
    report = run(db, campaign, data)
    assert (report.layout, report.imported) == ("ecm", 1)
    assert rows(db, "bp1, bp2, bp3") == [("AC-1", "a@example.com", "gold")]
    assert report.columns[5] == ("BP1 (Account)", "bp1")


def test_an_ecm_header_naming_another_field_later_is_read_by_name(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"Phone1,Phone2,Phone3,Phone4,Phone5,Priority,BP2\n2125550100,,,,,7,x\n"
    report = run(db, campaign, data)
    assert report.layout == "header"
    assert rows(db, "priority, bp1, bp2") == [(7, None, "x")]


# -- names ---------------------------------------------------------------------------------


def test_names_ignore_accents_case_spaces_underscores_and_hyphens(
    db: Database, campaign: CampaignRow
) -> None:
    data = "Téléphone,PRÉNOM,Nom,Courriel\n2125550100,Zoé,Dürr,z@x.com\n".encode()
    report = run(db, campaign, data)
    assert report.columns == [
        ("Téléphone", "phone1"), ("PRÉNOM", "bp1"), ("Nom", "bp2"), ("Courriel", "bp4"),
    ]  # fmt: skip
    assert rows(db, "bp1, bp2") == [("Zoé", "Dürr")]
    assert header_key(" Télé-phone_1 ") == header_key("TELEPHONE 1") == "telephone1"


def test_phone_columns_without_a_number_fill_the_free_phones_in_order(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"Mobile,Phone 1,Work Phone,phone_4\n2125550100,2125550101,2125550102,2125550103\n"
    report = run(db, campaign, data)
    assert [f for _, f in report.columns] == ["phone2", "phone1", "phone3", "phone4"]


def test_every_field_is_reached_by_its_own_name_and_its_synonyms() -> None:
    for field in FIELDS:
        assert field_of(header_key(field)) == field
        assert field_of(header_key(field.upper().replace("_", " "))) == field
    for field, names in SYNONYMS.items():
        for name in names:
            assert field_of(header_key(name)) == field, name
    assert field_of("bp13") is None and field_of("phone6") is None


def test_the_synonym_table_in_the_docs_is_the_code_s() -> None:
    """docs/config.md, Header names: one row per field, every name the code knows."""
    text = DOCS.read_text()
    section = text[text.index("### Header names") :]
    for field, names in SYNONYMS.items():
        label = "phone1..phone5" if field == "phone" else field
        row = next(line for line in section.splitlines() if line.startswith(f"| `{label}`"))
        for name in names:
            assert f"`{name}`" in row, (field, name)


# -- hostile headers -----------------------------------------------------------------------


def test_two_columns_of_one_name_are_refused(db: Database, campaign: CampaignRow) -> None:
    message = refused(db, campaign, b"phone,Email,name,email\n2125550100,a,b,c\n")
    assert "line 1: columns 2 and 4 have the same name ('Email', 'email')" in message
    assert "rename one" in message


def test_two_names_for_one_field_are_refused(db: Database, campaign: CampaignRow) -> None:
    message = refused(db, campaign, b"phone,Name,First Name\n2125550100,Ann,Ann\n")
    assert "columns 2 ('Name') and 3 ('First Name') both mean bp1" in message
    assert "--map 'First Name=ignore'" in message
    report = run(db, campaign, b"phone,Name,First Name\n2125550100,Ann Lee,Ann\n", "Name=bp12")
    assert rows(db, "bp1, bp12") == [("Ann", "Ann Lee")] and report.imported == 1


def test_a_bom_before_the_header_is_no_part_of_its_first_name(
    db: Database, campaign: CampaignRow
) -> None:
    report = run(db, campaign, "\ufeffphone,first_name\r\n2125550100,Ann\r\n".encode())
    assert report.columns[0] == ("phone", "phone1") and report.imported == 1


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"phone;first_name;email\n2125550100;Ann;a@x.com\n", "semicolons"),
        (b"phone\tfirst_name\n2125550100\tAnn\n", "tabs"),
        (b"2125550100;Ann;a@x.com\n", "semicolons"),
    ],
)
def test_semicolons_and_tabs_are_refused_saying_to_save_with_commas(
    db: Database, campaign: CampaignRow, data: bytes, what: str
) -> None:
    """The reader reads commas only (the C row check too): a file of other separators is
    refused whole rather than read as one column of garbage."""
    message = refused(db, campaign, data)
    assert f"separated by {what}, not commas" in message and "with commas" in message


def test_a_huge_header_is_refused_with_a_short_message(db: Database, campaign: CampaignRow) -> None:
    wide = ",".join(f"col{i}" for i in range(5000)).encode()
    message = refused(db, campaign, wide + b"\n2125550100\n")
    assert "line 1: 5000 columns; a contact file has at most 1000" in message
    assert len(message) < 300
    many = b"phone," + ",".join(f"x{i}" for i in range(900)).encode()
    message = refused(db, campaign, many + b"\n2125550100\n")
    assert "'x0' (column 2)" in message and "and 890 more" in message and len(message) < 3000
    long_name = b"phone," + b"y" * 100_000
    message = refused(db, campaign, long_name + b"\n2125550100,1\n")
    assert "'" + "y" * 59 + "…' (column 2)" in message and len(message) < 3000
    too_long = b"phone," + b"z" * 200_000
    message = refused(db, campaign, too_long + b"\n2125550100,1\n")
    assert "line 1 cannot be read (unreadable CSV: field larger than field limit" in message


def test_a_contact_first_line_that_starts_with_a_name_says_where_the_phone_goes(
    db: Database, campaign: CampaignRow
) -> None:
    message = refused(db, campaign, b"Jan Kowalski,+48 601 234 567\n")
    assert "unknown columns 'Jan Kowalski' (column 1), '+48 601 234 567' (column 2)" in message
    assert "Line 1 looks like a contact ('+48 601 234 567' is a number), not a header" in message


def test_cells_beyond_the_header_are_a_reject_not_a_parameter(
    db: Database, campaign: CampaignRow
) -> None:
    """#22: extra cells were stored in BP6/BP7 without a word."""
    report = run(db, campaign, b"phone,first_name\n2125550100,Ann,gold,42\n2125550101,Bob\n")
    assert report.imported == 1
    assert [(r.line, r.reason) for r in report.rejects] == [
        (2, "4 fields, more than the 2 of the file's header")
    ]


def test_a_header_only_file_imports_nothing(db: Database, campaign: CampaignRow) -> None:
    report = run(db, campaign, b"phone,first_name\r\n")
    assert (report.rows, report.imported, report.layout) == (0, 0, "header")


def test_a_trailing_comma_on_every_line_is_no_unknown_column(
    db: Database, campaign: CampaignRow
) -> None:
    report = run(db, campaign, b"phone,first_name,\n2125550100,Ann,\n")
    assert report.imported == 1 and report.columns[2] == ("column 3", None)


def test_a_column_without_a_name_in_the_middle_is_refused(
    db: Database, campaign: CampaignRow
) -> None:
    message = refused(db, campaign, b",phone,first_name\n1,2125550100,Ann\n")
    assert "unknown column column 1 (no name)" in message
    report = run(db, campaign, b",phone,first_name\n1,2125550100,Ann\n", "*=ignore")
    assert report.imported == 1 and report.columns[0] == ("column 1", None)


def test_no_phone_column_and_too_many_phone_columns_are_refused(
    db: Database, campaign: CampaignRow
) -> None:
    message = refused(db, campaign, b"first_name,email\nAnn,a@x.com\n")
    assert "no column holds phone1" in message and "--map 'Your Column=phone1'" in message
    six = b"phone,mobile,cell,home phone,work phone,fax phone\n"
    message = refused(db, campaign, six + b"2125550100,,,,,\n", "fax phone=phone")
    assert "6 phone columns" in message and "at most five" in message


def test_a_headerless_file_with_the_wrong_column_count_is_refused_whole(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"2125550100" + b",x" * 19 + b"\n2125550101\n"
    message = refused(db, campaign, data)
    assert "line 1: 20 columns, but there is no header" in message
    assert "at most 17 (Phone1..Phone5, BP1..BP12)" in message
    assert "Put a header naming the columns" in message


def test_an_ecm_header_of_more_than_17_columns_is_refused(
    db: Database, campaign: CampaignRow
) -> None:
    header = b"Phone1,Phone2,Phone3,Phone4,Phone5," + b",".join(b"c%d" % i for i in range(13))
    message = refused(db, campaign, header + b"\n2125550100\n")
    assert "18 columns, but its header starts Phone1..Phone5" in message


# -- --map -----------------------------------------------------------------------------------


def test_map_places_unknown_columns_leaves_them_out_or_adds_a_phone(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"phone,Kundentyp,Intern,Fax\n2125550100,gold,zzz,2125550199\n"
    report = run(db, campaign, data, "kundentyp=BP 5", "Intern=ignore", "Fax=phone")
    assert report.columns == [
        ("phone", "phone1"), ("Kundentyp", "bp5"), ("Intern", None), ("Fax", "phone2"),
    ]  # fmt: skip
    assert rows(db, "bp5, e164_2") == [("gold", "+12125550199")]


def test_map_overrides_a_known_name(db: Database, campaign: CampaignRow) -> None:
    run(db, campaign, b"phone,email\n2125550100,a@x.com\n", "email=bp9")
    assert rows(db, "bp4, bp9") == [(None, "a@x.com")]


@pytest.mark.parametrize(
    ("pairs", "why"),
    [
        (["Tier=bp13"], "'bp13' is not a contact field; use one of phone1"),
        (["Tier"], "write COLUMN=FIELD"),
        (["=bp3"], "name the column before '='"),
        (["*=bp3"], "'*' may only be ignored"),
        (["Tier=bp3", "tier=bp4"], "the column 'tier' is mapped twice"),
    ],
)
def test_a_map_that_cannot_be_used_is_refused_before_reading(pairs: list[str], why: str) -> None:
    with pytest.raises(MapError, match=re.escape(why)):
        parse_map(pairs)


def test_map_naming_a_column_the_file_lacks_or_a_file_without_header_is_refused(
    db: Database, campaign: CampaignRow
) -> None:
    message = refused(db, campaign, b"phone,first_name\n2125550100,Ann\n", "Tier=bp5")
    assert "--map 'Tier=bp5': the header has no column 'Tier'" in message
    assert "(its columns: 'phone', 'first_name')" in message
    message = refused(db, campaign, b"2125550100,,,,,Ann\n", "Tier=bp5")
    assert "the file has no header" in message and "read by position" in message


def test_the_config_map_applies_where_its_column_is_and_the_given_map_wins() -> None:
    settings = ImportSettings(map={"Kundentyp": "BP5", "Segment X": "ignore"})
    assert settings.map == {"Kundentyp": "bp5", "Segment X": "ignore"}
    with pytest.raises(ValueError, match="'bp99' is not a contact field"):
        ImportSettings(map={"x": "bp99"})
    entries = merged(config_map(settings.map), parse_map(["Kundentyp=bp6"]))
    layout = choose_layout(["phone", "Kundentyp"], {}, None, "f", entries)
    assert layout.fields == ("phone1", "bp6")
    layout = choose_layout(["phone", "kundentyp"], {}, None, "f", config_map(settings.map))
    assert layout.fields == ("phone1", "bp5")  # and "Segment X", absent, is no error


def test_a_config_mapping_still_wins_and_map_adds_to_it(
    db: Database, campaign: CampaignRow
) -> None:
    mappings = {"crm": ColumnMapping(columns={"phone1": "Handynummer", "bp2": "Kunde"})}
    data = b"Handynummer,Kunde,Stufe\n2125550100,Ann,gold\n"
    report = run(db, campaign, data, "Stufe=bp5", mappings=mappings)
    assert report.layout == "crm"
    assert rows(db, "bp2, bp5") == [("Ann", "gold")]


# -- dry run ---------------------------------------------------------------------------------


def test_a_dry_run_shows_the_columns_and_the_first_rejects_and_writes_nothing(
    db: Database, campaign: CampaignRow, tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(
        CRM + b"not a phone,,Bad,Row,b@x.com,1\n2125550101,,John,Smith,john@example.com,7\n"
    )
    preview = preview_file(path, campaign="Spring", region="US", mappings={})
    assert (preview.rows, preview.valid, preview.repeated, preview.rejected) == (4, 2, 1, 1)
    assert [(r.line, r.field, r.reason) for r in preview.rejects] == [
        (4, "phone", "not a phone number")
    ]
    text = preview.human()
    assert "phone       -> phone1" in text and "amount      -> bp3" in text
    assert "line 4  phone: not a phone number  [not a phone]" in text
    assert db.scalar("SELECT count(*) FROM imports") == 0


def test_a_dry_run_refuses_what_the_import_refuses(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"phone,Wat\n2125550100,1\n")
    with pytest.raises(DialboxError, match="unknown column 'Wat'"):
        preview_file(path, campaign="Spring", region="US", mappings={})
