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


def test_a_scrape_in_the_daemon_scans_nothing_on_the_event_loop(tmp_path: Path) -> None:
    # A scrape of a box with 2M contacts took 9.5 s of the event loop (issue 17: the dial loop
    # stalled for up to 26 s while /metrics was polled during uploads). The scans (queue
    # depths, abandon ledger) are the figures' (store/figures.py), made in a worker thread; on
    # the loop a scrape reads only the kept counts and the campaigns, a few rows each (#28).
    import asyncio
    import threading

    from appliance.store.db import Database
    from appliance.store.figures import Figures

    metrics = _metrics(tmp_path)
    db = metrics._store._db
    assert db is not None
    run: list[tuple[int, str]] = []

    def traced(cursor, sql, bindings):  # type: ignore[no-untyped-def]
        run.append((threading.get_ident(), sql))
        return True

    def reader() -> Database:  # the figures' own read-only connection, as the daemon's
        found = Database(db.path, readonly=True)
        found.conn.exec_trace = traced
        return found

    metrics.figures = metrics._store._figures = Figures(db, reader=reader)
    db.conn.exec_trace = traced

    async def scrape() -> tuple[int, bytes]:
        return threading.get_ident(), await metrics.render_async()

    loop_thread, body = asyncio.run(scrape())
    on_loop = [sql for thread, sql in run if thread == loop_thread]
    off_loop = [sql for thread, sql in run if thread != loop_thread]
    assert on_loop and off_loop
    # tables read on the loop: none of the big ones
    read = {t for sql in on_loop for t in re.findall(r"\bFROM\s+(\w+)", sql, re.I)}
    assert read and not read & {"contacts", "attempts", "dnc"}, read
    assert any("contacts" in sql for sql in off_loop)  # the queue depths: counted in the thread
    samples = _samples(body.decode())
    assert samples["dialbox_contacts[('campaign', 'spring'), ('state', 'Pending')]"] == 2
    assert samples["dialbox_queue_depth[('campaign', 'spring')]"] == 2
    assert samples["dialbox_line_up[('kind', 'gsm'), ('line', 'gsm1')]"] == 0
    assert samples["dialbox_abandon_ratio[('campaign', 'spring'), ('window', '24h')]"] == 0.02


def test_the_per_campaign_text_is_kept_until_the_store_or_the_figures_change(
    tmp_path: Path,
) -> None:
    # #28: the ~600 per-campaign samples are formatted once per change of the store, not once
    # per scrape; a change by this or another connection shows in the very next scrape.
    from appliance.store.db import Database
    from appliance.store.figures import Figures

    metrics = _metrics(tmp_path)
    db = metrics._store._db
    assert db is not None
    metrics.figures = metrics._store._figures = Figures(db, ttl=1e9)
    first = metrics.render()
    assert metrics.render() == first
    misses = metrics._store._memo.misses if metrics._store._memo else 0
    assert metrics.render() == first and metrics._store._memo is not None
    assert metrics._store._memo.misses == misses  # kept: nothing changed
    other = Database(db.path)
    other.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state, created_at,"
        " updated_at) VALUES (1, 'x', '2125550101', '+12125550101', 'Connected', 0, 0)"
    )
    samples = _samples(metrics.render().decode())
    assert samples["dialbox_contacts[('campaign', 'spring'), ('state', 'Connected')]"] == 2
    db.conn.execute("UPDATE campaigns SET name = 'summer'")  # this connection's own write
    samples = _samples(metrics.render().decode())
    assert "dialbox_contacts[('campaign', 'summer'), ('state', 'Connected')]" in samples


def test_queue_depth_counts_new_and_due_contacts_only(tmp_path: Path) -> None:
    metrics = _metrics(tmp_path)
    db = metrics._store._db
    assert db is not None
    for key, state, next_at in [("a", "Not Connected", 900.0), ("b", "Not Connected", 1100.0),
                                ("c", "Retries Completed", None), ("d", "Pending", 1200.0)]:  # fmt: skip
        db.conn.execute(
            "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state, next_at,"
            " created_at, updated_at) VALUES (1, ?, '2125550100', '+12125550100', ?, ?, 0, 0)",
            (key, state, next_at),
        )
    samples = _samples(metrics.render().decode())
    # two new Pending, one redial due at 900 (now is 1000); the others wait or are closed
    assert samples["dialbox_queue_depth[('campaign', 'spring')]"] == 3
