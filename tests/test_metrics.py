"""/metrics content: convention-following names, every one documented, and promtool finds nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.metrics import AbandonSample, AgentSample, LineSample, Metrics
from appliance.store import open_database

DOC = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()


def _metrics(tmp_path: Path) -> Metrics:
    db = open_database(tmp_path / "m.db")
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, status, created_at, updated_at)"
        " VALUES (1, 'spring', 'agent', 'US', 'running', 0, 0)"
    )
    for i, state in enumerate(["Pending", "Pending", "Connected"]):
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state, created_at, updated_at)"
            " VALUES (1, ?, '2125550100', '+12125550100', ?, 0, 0)",
            (i, state),
        )
    metrics = Metrics(
        db,
        now=lambda: 1000.0,
        lines=lambda: [
            LineSample("gsm0", "gsm", True, -71.0, busy=True),
            LineSample("gsm1", "gsm", False),
        ],
        abandon=lambda: [
            AbandonSample("spring", "24h", 0.02),
            AbandonSample("spring", "30d", 0.01),
        ],
        agents=lambda: [AgentSample("ready", 3)],
    )
    metrics.record_call("spring", "Busy", duration=12.0, ring=None)
    metrics.record_call("spring", "Connected", duration=95.0, ring=7.5)
    metrics.record_sms("spring", "sent")
    metrics.driver_errors.labels("gsm1", "gsm").inc()
    return metrics


def _samples(text: str) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_figures_come_from_the_store_and_the_engine(tmp_path: Path) -> None:
    samples = _samples(_metrics(tmp_path).render().decode())
    assert samples["dialbox_contacts[('campaign', 'spring'), ('state', 'Pending')]"] == 2
    assert samples["dialbox_contacts[('campaign', 'spring'), ('state', 'Connected')]"] == 1
    assert samples["dialbox_queue_depth[('campaign', 'spring')]"] == 2
    assert samples["dialbox_calls_total[('campaign', 'spring'), ('outcome', 'Busy')]"] == 1
    assert samples["dialbox_line_up[('kind', 'gsm'), ('line', 'gsm1')]"] == 0
    assert samples["dialbox_lines[('kind', 'gsm'), ('state', 'up')]"] == 1
    assert samples["dialbox_line_signal_dbm[('line', 'gsm0')]"] == -71.0
    assert samples["dialbox_abandon_ratio[('campaign', 'spring'), ('window', '24h')]"] == 0.02
    assert samples["dialbox_sms_total[('campaign', 'spring'), ('result', 'sent')]"] == 1


def test_every_metric_is_documented_and_no_label_holds_a_phone_number(tmp_path: Path) -> None:
    text = _metrics(tmp_path).render().decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    documented = set(re.findall(r"`(dialbox_[a-z0-9_]+)`", DOC))
    exposed = {
        name + ("_total" if f.type == "counter" else "_info" if f.type == "info" else "")
        for f in text_string_to_metric_families(text)
        for name in [f.name]
    }
    assert families
    assert exposed - documented == set()
    assert not re.search(r'="\+?\d{7,}"', text)


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed"
)
def test_promtool_check_metrics_reports_nothing(tmp_path: Path) -> None:
    text = _metrics(tmp_path).render()
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    import json

    dashboard = json.loads(
        (Path(__file__).resolve().parents[1] / "docs" / "grafana" / "dialbox.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(dialbox_[a-z0-9_]+)", e)}
    documented = set(re.findall(r"`(dialbox_[a-z0-9_]+)`", DOC))
    base = {re.sub(r"_bucket$", "", name) for name in used}
    assert used and base - documented == set()
