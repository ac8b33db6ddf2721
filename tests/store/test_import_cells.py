"""The record feed's import of one record's cells (`Cells`) checks them as the same record in a
CSV file with its field names as header would be: the same rows, rejects and reasons."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from appliance.config.models import ColumnMapping
from appliance.domain import CampaignType
from appliance.importing.importer import Cells, ImportReport, import_file
from appliance.store import Database
from appliance.store.campaigns import CampaignRow, create_campaign

NOW = 1_767_225_600.0

RECORDS: list[dict[str, str]] = [
    {"phone1": "(212) 555-0100", "bp1": "Doe, Jane", "bp2": 'say "hi"'},
    {"phone1": "+1 415 555 0199", "phone2": "(646) 555-0142", "bp1": "Smith\r\nJohn"},
    {"phone1": "not a number"},
    {"phone1": "(212) 000-0000", "bp3": "x" * 300},
    {"phone1": "", "phone2": "(305) 555-0124"},
    {"phone1": "   "},  # no record at all, as a blank CSV row is none
    {"phone1": "(305) 555-0123", "priority": "7", "timezone": "America/New_York"},
    {"phone1": "(305) 555-0125", "priority": "high", "timezone": "Mars/Base"},
    {"phone1": "(305) 555-0126", "callback_at": "10000-01-01T00:00:00"},
    {"phone1": "(305) 555-0100", "external_id": "crm-1"},
    {"phone1": "(305) 555-0100", "external_id": "crm-1"},  # a duplicate of the one before
    {"phone1": "9" * 200_000},  # longer than the csv module's cell limit
]


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


def as_csv(record: dict[str, str]) -> bytes:
    """The record feed's former way: the record written out as CSV text and read back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(record))
    writer.writerow(list(record.values()))
    return out.getvalue().encode()


def push(db: Database, campaign: CampaignRow, record: dict[str, str], cells: bool) -> Any:
    mappings = {"record": ColumnMapping(columns={f: f for f in record}, match_headers=False)}
    source: Cells | io.BytesIO = Cells(record) if cells else io.BytesIO(as_csv(record))
    report: ImportReport = import_file(
        db, campaign, source, region="US", mappings={} if cells else mappings,
        mapping="record", now=NOW, actor="test", source="api record", worker=False,
    )  # fmt: skip
    document = report.as_dict()
    for volatile in ("sha256", "import_id"):
        document.pop(volatile, None)
    return document


def stored(db: Database, campaign: CampaignRow) -> list[tuple[Any, ...]]:
    return [
        row[2:]  # without the ids
        for row in db.conn.execute(
            "SELECT id, import_id, source_line, dedup_key, phone1, e164_2, zs1, bp1, bp2, bp3,"
            " priority, tz_override, callback_at, external_id"
            " FROM contacts WHERE campaign_id = ? ORDER BY id",
            (campaign.id,),
        )
    ]


def test_cells_are_checked_as_the_same_record_in_a_csv_file_would_be(db: Database) -> None:
    by_csv = create_campaign(db, "csv", CampaignType.AGENT, "US", {}, NOW, "test")
    by_cells = create_campaign(db, "cells", CampaignType.AGENT, "US", {}, NOW, "test")
    rejected = 0
    for record in RECORDS:
        expected = push(db, by_csv, record, cells=False)
        got = push(db, by_cells, record, cells=True)
        got["campaign"] = expected["campaign"]
        assert got == expected, record
        rejected += expected["rejected"]
    assert rejected >= 5  # the rejects, too, were compared
    assert stored(db, by_cells) == stored(db, by_csv)
    assert stored(db, by_cells)  # some were imported
