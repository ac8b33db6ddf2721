"""What an import did: counts, the rejected rows with line, field and reason, and the reject CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, TextIO

REJECT_COLUMNS = ("line", "field", "reason", "value")


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem with one row; a row with several problems has several rejects."""

    line: int  # physical line in the file where the record starts (1-based)
    field: str | None  # "Phone1", "BP3", a mapped file's own header; None for the whole row
    reason: str
    value: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason, "value": self.value}


@dataclass
class ImportReport:
    """The outcome of importing one file; rows = imported + rejected + duplicates."""

    file: str
    campaign: str
    import_id: int = 0
    layout: str = "ecm"
    # (the column's header name, or None without a header; its field, or None: left out)
    columns: list[tuple[str | None, str | None]] = field(default_factory=list)
    sha256: str = ""
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    duplicates: int = 0
    dnc: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejects_omitted: int = 0  # rejects beyond the kept list (all of them are in the CSV report)
    by_reason: dict[str, int] = field(default_factory=dict)  # every reject's reason, counted

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file": self.file,
            "campaign": self.campaign,
            "import_id": self.import_id,
            "layout": self.layout,
            "columns": columns_document(self.columns),
            "rows": self.rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "dnc": self.dnc,
            "rejects": [r.as_dict() for r in self.rejects],
        }
        if self.rejects_omitted:
            document["rejects_omitted"] = self.rejects_omitted
        if self.by_reason:
            document["rejects_by_reason"] = dict(
                sorted(self.by_reason.items(), key=lambda item: (-item[1], item[0]))
            )
        return document

    def summary(self) -> str:
        """One line a person reads: what landed and what did not."""
        return (
            f"{self.file}: {self.imported} imported into {self.campaign!r}"
            f" ({self.dnc} of them DNC Listed), {self.rejected} rejected,"
            f" {self.duplicates} duplicates, of {self.rows} rows"
        )


def columns_document(
    columns: list[tuple[str | None, str | None]],
) -> list[dict[str, str | None]]:
    """How the file was read, column by column: its header name and the field it fills."""
    return [{"column": name, "field": field} for name, field in columns]


def columns_table(columns: list[tuple[str | None, str | None]]) -> list[str]:
    """The same for a person: `  2  mobile       -> phone2`, `(left out)` for no field."""
    width = max((len(name or "") for name, _ in columns), default=0)
    width = min(max(width, 6), 40)
    return [
        f"  {i:>2}  {(name or '(no header)')[:40]:<{width}}  -> {field or '(left out)'}"
        for i, (name, field) in enumerate(columns, 1)
    ]


class RejectWriter:
    """Streams rejects as CSV (line, field, reason, value) while the import runs."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self._writer.writerow(REJECT_COLUMNS)

    def write(self, rejects: list[Reject]) -> None:
        self._writer.writerows((r.line, r.field or "", r.reason, r.value) for r in rejects)


def read_rejects(text: str) -> list[Reject]:
    """Parse a reject report back (tests, the console's import history)."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return [Reject(int(r["line"]), r["field"] or None, r["reason"], r["value"]) for r in rows]
