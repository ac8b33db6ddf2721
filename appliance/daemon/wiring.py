"""Which components the daemon runs, built from the config: HTTP/metrics, lines, engine, hot folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from appliance.daemon.http import HttpComponent
from appliance.daemon.runner import Component, Daemon
from appliance.metrics import Metrics
from appliance.store.campaigns import get_campaign_by_id


def components(daemon: Daemon) -> Sequence[Component]:
    metrics = Metrics(daemon.db, now=daemon.clock.now)
    daemon.metrics = metrics
    for swept in daemon.recovered:
        metrics.dangling.labels(get_campaign_by_id(daemon.db, swept.campaign_id).name).inc()
    return [HttpComponent(daemon.config, metrics, daemon.health)]


def build_daemon(config_path: str | Path | None) -> Daemon:
    return Daemon(config_path, components=components)
