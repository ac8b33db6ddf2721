"""The demo's three sample campaigns: created, filled from the shipped sample and started; and
its inbound campaign (demo_inbound.py), created and started with no list.

Every run dials the sample afresh. On a re-used state directory the last run's campaigns are
kept, stopped, as `<name>-previous` (the run before that is deleted), so their attempts stay
in the database for the console, the exports and the reports, and the new run's figures are
its own. A few of the sample's numbers are put on the global DNC list first, so the import
closes their contacts as DNC Listed and the summary shows them skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.cli.demo_agents import AGENT_CAMPAIGN
from appliance.cli.demo_inbound import INBOUND_CAMPAIGN, inbound_settings
from appliance.domain import CampaignStatus, CampaignType
from appliance.importing.importer import import_file
from appliance.store import Database
from appliance.store.campaigns import (
    create_campaign,
    delete_campaign,
    find_campaign,
    rename_campaign,
    update_campaign,
)
from appliance.store.dnc import add_numbers

ACTOR = "demo"
CAMPAIGNS: tuple[tuple[str, CampaignType, dict[str, Any]], ...] = (
    ("sample", CampaignType.AUTOMATED, {"message": "reminder.amr", "weight": 3}),
    (
        "sample-sms",
        CampaignType.SMS,
        {"sms_text": "Reminder: your payment is due. Reply STOP to opt out."},
    ),
    (AGENT_CAMPAIGN, CampaignType.AGENT, {"pacing": "predictive"}),
)
NAMES = tuple(name for name, _, _ in CAMPAIGNS)  # the campaigns that dial or send
KEPT = (*NAMES, INBOUND_CAMPAIGN)  # every campaign a run makes (and the next keeps)
PREVIOUS = "-previous"
# Three one-number rows of the sample (Robert Lee, Thomas Chen, John Lee): "asked not to be called".
DEMO_DNC = ("+15105801583", "+17732151738", "+13037302256")


@dataclass(frozen=True)
class Prepared:
    imports: dict[str, dict[str, Any]]  # campaign -> its import report (ImportReport.as_dict)
    previous_contacts: int  # contacts of the last run's campaigns, now kept as <name>-previous
    archived: tuple[str, ...]  # the names they are kept under


def sample_csv() -> Path:
    return Path(str(resources.files("appliance").joinpath("data/sample-campaign.csv")))


def archive_last_run(db: Database, now: float) -> tuple[int, tuple[str, ...]]:
    """Keep the last run's campaigns, stopped, as `<name>-previous` (replacing older ones);
    how many contacts they hold and their new names."""
    contacts, archived = 0, []
    for name in KEPT:
        campaign = find_campaign(db, name)
        if campaign is None:
            continue
        contacts += int(
            db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = ?", (campaign.id,)) or 0
        )
        previous = name + PREVIOUS
        older = find_campaign(db, previous)
        if older is not None:
            delete_campaign(db, older, now, ACTOR)
        if campaign.status is not CampaignStatus.STOPPED:
            campaign = update_campaign(db, campaign, {"status": CampaignStatus.STOPPED}, now, ACTOR)
        rename_campaign(db, campaign, previous, now, ACTOR)
        archived.append(previous)
    return contacts, tuple(archived)


def prepare(db: Database, now: float) -> Prepared:
    """Archive the last run (if any), list the demo's DNC numbers, create the sample
    campaigns, import the sample into each and start them."""
    previous, archived = archive_last_run(db, now)
    add_numbers(db, DEMO_DNC, campaign_id=None, campaign=None, now=now, actor=ACTOR,
                reason="demo: asked not to be called", source=ACTOR)  # fmt: skip
    imports = {}
    for name, kind, settings in CAMPAIGNS:
        campaign = create_campaign(db, name, kind, "US", settings, now, ACTOR)
        report = import_file(
            db, campaign, sample_csv(), region="US", mappings={}, now=now, actor=ACTOR,
            source=ACTOR,
        )  # fmt: skip
        imports[name] = report.as_dict()
        update_campaign(db, campaign, {"status": CampaignStatus.RUNNING}, now, ACTOR)
    inbound = create_campaign(db, INBOUND_CAMPAIGN, CampaignType.INBOUND, "US",
                              inbound_settings(), now, ACTOR)  # fmt: skip
    update_campaign(db, inbound, {"status": CampaignStatus.RUNNING}, now, ACTOR)
    return Prepared(imports, previous, archived)
