"""`dialbox demo`: the main job on the embedded default — a local SQLite file and the sample campaign.

Until the daemon runs campaigns end to end, the demo imports the sample campaign (again without
duplicates on later runs), shows the import report and the contacts by state, and what the
scheduler would dial first.
"""

from __future__ import annotations

import argparse
import getpass
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.cli.output import add_json_flag, emit
from appliance.clock import SystemClock
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType
from appliance.errors import NotFound
from appliance.store import open_database
from appliance.store.campaigns import contacts_by_state, create_campaign, get_campaign
from appliance.store.importer import import_file

CAMPAIGN = "sample"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the sample campaign on a local database")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/demo"),
        help="where the demo keeps its database (var/demo)",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def sample_csv() -> Path:
    return Path(str(resources.files("appliance").joinpath("data/sample-campaign.csv")))


def run(args: argparse.Namespace) -> int:
    config = DialboxConfig(database=args.state_dir / "dialbox.db", region="US")
    db = open_database(config.database)
    clock = SystemClock()
    actor = f"demo:{getpass.getuser()}"
    try:
        campaign = get_campaign(db, CAMPAIGN)
    except NotFound:
        campaign = create_campaign(
            db, CAMPAIGN, CampaignType.AUTOMATED, "US", {}, clock.now(), actor
        )
    report = import_file(
        db,
        campaign,
        sample_csv(),
        region=campaign.region,
        mappings={},
        now=clock.now(),
        actor=actor,
        source="demo",
    )
    document: dict[str, Any] = {
        "database": str(config.database),
        "campaign": campaign.name,
        "import": report.as_dict(),
        "contacts_by_state": contacts_by_state(db, campaign.id),
    }
    emit(args, document, _human)
    return 0


def _human(doc: dict[str, Any]) -> str:
    imp = doc["import"]
    lines = [
        f"database: {doc['database']}",
        f"campaign {doc['campaign']!r}: imported {imp['imported']}, rejected {imp['rejected']}, "
        f"duplicates {imp['duplicates']}, DNC {imp['dnc']}",
    ]
    for reject in imp["rejects"][:10]:
        lines.append(f"  line {reject['line']}: {reject['field']}: {reject['reason']}")
    lines.append("contacts by state:")
    for state, count in doc["contacts_by_state"].items():
        lines.append(f"  {state:<22} {count}")
    return "\n".join(lines)
