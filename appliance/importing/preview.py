"""A dry run (`dialbox import --dry-run`, the upload's `dry_run=true`): how a file would be read
— each column and its field — and the rows it would reject, with nothing written anywhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from appliance.importing.headers import MapEntry
from appliance.importing.layout import ColumnNames, Columns
from appliance.importing.pipeline import Batch, Job, Opened, messages
from appliance.importing.report import Reject, columns_document, columns_table

SHOWN_REJECTS = 20  # the first rejects a dry run lists (the counts cover every one)


@dataclass
class Preview:
    """What importing the file would do, before the campaign's own duplicates and DNC lists."""

    file: str
    campaign: str
    layout: str = "ecm"
    header: bool = False
    columns: list[tuple[str | None, str | None]] = field(default_factory=list)
    rows: int = 0  # records read
    valid: int = 0  # records that pass the checks (the first of repeated ones)
    repeated: int = 0  # records the file already has above them
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "file": self.file,
            "campaign": self.campaign,
            "layout": self.layout,
            "header": self.header,
            "columns": columns_document(self.columns),
            "rows": self.rows,
            "valid": self.valid,
            "repeated_in_file": self.repeated,
            "rejected": self.rejected,
            "rejects": [r.as_dict() for r in self.rejects],
            "rejects_by_reason": dict(
                sorted(self.by_reason.items(), key=lambda item: (-item[1], item[0]))
            ),
        }

    def human(self) -> str:
        how = {
            "ecm": "the ECM column order (Phone1..Phone5, BP1..BP12)",
            "header": "the header's column names",
        }.get(self.layout, f"column mapping {self.layout!r}")
        lines = [
            f"{self.file}: dry run for campaign {self.campaign!r}, nothing written",
            f"read by {how}, {'after a header on line 1' if self.header else 'without a header'}:",
            *columns_table(self.columns),
            "",
            f"{self.rows} row{'' if self.rows == 1 else 's'}: {self.valid} valid (imported "
            f"unless the campaign has them already), {self.repeated} repeated in the file, "
            f"{self.rejected} rejected",
        ]
        if self.rejects:
            lines.append("first rejects (CSV line, field, reason, value):")
            lines += [
                f"  line {r.line}  {r.field or '(row)'}: {r.reason}"
                + (f"  [{r.value}]" if r.value else "")
                for r in self.rejects
            ]
        return "\n".join(lines)


def preview_file(
    path_or_stream: str | Path | BinaryIO,
    *,
    campaign: str,
    region: str,
    mappings: Mapping[str, ColumnNames],
    mapping: str | None = None,
    column_map: Sequence[MapEntry] = (),
    where: str | None = None,
) -> Preview:
    """Read and check the whole file as `import_file` would, keeping only counts and the first
    rejects; FileProblem when the file would be refused."""
    where = where or str(path_or_stream)
    job = Job(
        where=where,
        region=region,
        mappings={name: Columns.of(m) for name, m in mappings.items()},
        mapping=mapping,
        known_keys=b"",  # deduplicate within the file, knowing no keys
        mapped=tuple(column_map),
    )
    preview = Preview(file=where, campaign=campaign)
    for message in messages(path_or_stream, job, worker=False):
        if isinstance(message, Opened):
            preview.layout, preview.header = message.layout, message.header
            preview.columns = list(message.columns)
        elif isinstance(message, Batch):
            kept = len(message.row_list())
            preview.rows += message.checked + message.rejected_rows
            preview.valid += kept
            preview.repeated += message.checked - kept
            preview.rejected += message.rejected_rows
            room = SHOWN_REJECTS - len(preview.rejects)
            preview.rejects += message.rejects[: max(room, 0)]
            for reject in message.rejects:
                preview.by_reason[reject.reason] = preview.by_reason.get(reject.reason, 0) + 1
    return preview
