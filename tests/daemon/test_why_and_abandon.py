"""The running daemon's `why` and compliance metric (issue 17, items 6 and 7).

`GET /campaigns/X/why` must judge lines as `dialbox why` does — disabled lines and lines pinned
to other campaigns are not lines the campaign has — and `/metrics` must carry
`dialbox_abandon_ratio` for every campaign and window, read from the store, in the real daemon
(not only where a test injects its source)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from appliance.config.models import DialboxConfig
from appliance.domain import CampaignStatus, CampaignType
from appliance.store.campaigns import CampaignRow
from appliance.store.db import daemon_running
from tests.api.client import Api, make_token
from tests.daemon.campaign import box


def _cli_why(config: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(config), "why", "--campaign", "c",
         "--json"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_api_and_cli_why_both_say_no_line_is_up_when_every_line_is_disabled(
    tmp_path: Path,
) -> None:
    with box(tmp_path, modems=2, contacts=300) as b:
        token = make_token(b.db_path, "tech", "admin")
        b.daemon.start()
        b.daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{b.daemon.port}", token)
        assert daemon_running(b.db_path)  # so `dialbox import` stages its files meanwhile
        api.wait_until(
            lambda: all(line["state"] in ("up", "busy") for line in api.get("/lines").json()),
            what="both lines up",
        )
        for name in ("gsm0", "gsm1"):
            assert api.post(f"/lines/{name}/disable").status == 200
        answer = api.get("/campaigns/c/why").json()
        reasons = [blocker["reason"] for blocker in answer["blockers"]]
        assert "no_line" in reasons, answer
        assert "no_line" in [blocker["reason"] for blocker in _cli_why(b.daemon.config)["blockers"]]  # type: ignore[union-attr]


def test_lines_pinned_to_another_campaign_are_not_this_campaigns() -> None:
    from appliance.engine.why import campaign_lines_up

    config = DialboxConfig.model_validate(
        {"database": "/nonexistent/x.db", "lines": [{"name": "a", "device": "/dev/a", "campaigns": ["other"]},
                   {"name": "b", "device": "/dev/b", "enabled": False},
                   {"name": "c", "device": "/dev/c"}]}
    )  # fmt: skip
    campaign = CampaignRow(
        1, "mine", CampaignType.AUTOMATED, "US", CampaignStatus.RUNNING, None, None, {}, 0.0, 0.0
    )
    assert campaign_lines_up(config, campaign, {"a": True, "b": True, "c": True}) == 1
    assert campaign_lines_up(config, campaign, {"a": True, "b": True, "c": False}) == 0
    assert campaign_lines_up(config, campaign, None) is None


def test_the_running_daemon_exports_the_abandon_ratio_per_campaign_and_window(
    tmp_path: Path,
) -> None:
    with box(tmp_path, modems=2, contacts=20) as b:
        b.daemon.start()
        b.daemon.expect("READY")
        b.wait_until(
            lambda: (
                b.query("SELECT count(*) FROM attempts WHERE answered_at IS NOT NULL")[0][0] != 0
            ),
            what="an answered call",
        )
        with urllib.request.urlopen(
            f"http://127.0.0.1:{b.daemon.port}/metrics", timeout=10
        ) as response:
            text = response.read().decode()
        samples = re.findall(
            r'^dialbox_abandon_ratio\{campaign="c",window="(\w+)"\} (\S+)$', text, re.M
        )
        assert {window for window, _ in samples} >= {"24h", "30d"}, text
        assert all(float(value) == 0.0 for _, value in samples)  # automated: nobody abandoned
