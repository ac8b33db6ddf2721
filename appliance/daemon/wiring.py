"""Which components the daemon runs, built from the config: lines, engine, HTTP/metrics, scheduled
actions, hot folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from appliance.api.context import Services
from appliance.config import DialboxConfig
from appliance.config.loader import resolve_config_path
from appliance.daemon.hotfolder import HotFolderComponent
from appliance.daemon.http import HttpComponent
from appliance.daemon.runner import Component, Daemon
from appliance.engine.agents import AgentDesk
from appliance.engine.callaudio import AudioParts
from appliance.engine.dialer import Engine
from appliance.engine.extsync import ExternalListsComponent
from appliance.engine.factory import make_line, make_seat
from appliance.engine.linepool import LinePool
from appliance.engine.outbox import OutboxComponent
from appliance.engine.schedules import ScheduledActions
from appliance.engine.storeplanner import StorePlanner
from appliance.metrics import AbandonSample, Metrics
from appliance.recording import recordings_directory
from appliance.recording.retention import Retention, RetentionComponent
from appliance.store.campaigns import get_campaign_by_id
from appliance.store.db import Database
from appliance.store.figures import Figures


def components(daemon: Daemon) -> Sequence[Component]:
    config = daemon.config
    pool: LinePool | None = None
    engine: Engine | None = None
    planner = StorePlanner(config, daemon.db, daemon.clock)
    seats = {s.name: make_seat(s) for s in config.seats if s.enabled}
    desk = AgentDesk(config, daemon.db, daemon.clock, seats)
    # The scanned figures /status and /metrics share (#28): on a read-only connection of their
    # own, in a worker thread, at most every few seconds; each answer says how old they are.
    figures = Figures.for_file(daemon.db)
    for window in planner.abandon_windows():
        figures.want(window)
    metrics = Metrics(
        # its own read-only connection: the store's counts are read in a worker thread, and a
        # query there on the daemon's connection would hold up the dial loop's writes
        Database(daemon.db.path, readonly=True) if daemon.db.path != ":memory:" else daemon.db,
        now=daemon.clock.now,
        lines=lambda: pool.samples() if pool else [],
        agents=desk.samples,
        abandon=lambda: [
            AbandonSample(*ratio)
            for ratio in planner.abandon_ratios(daemon.clock.now(), figures.latest())
        ],
        figures=figures,
        inbound=lambda: engine.inbound.queue_samples() if engine else [],
        box_silence=2 * config.box.heartbeat_seconds,
    )
    daemon.metrics = metrics
    for swept in daemon.recovered:
        metrics.dangling.labels(get_campaign_by_id(daemon.db, swept.campaign_id).name).inc()
    pool = LinePool(config, make_line, metrics, db=daemon.db, clock=daemon.clock)
    audio = audio_parts(daemon, metrics)
    engine = Engine(config, daemon.db, daemon.clock, pool, planner, metrics, desk, audio=audio)
    daemon.status_fn = engine.status
    daemon.engine = engine
    services = Services(
        db=daemon.db,
        clock=daemon.clock,
        config=lambda: daemon.config,
        metrics=metrics,
        health=daemon.health,
        engine=engine,
        desk=desk,
        logs=daemon.logs,
        config_path=resolve_config_path(daemon.config_path) if not daemon.builtin_config else None,
        reload=daemon.reload,
        prompts=audio.prompts,  # one library (and its cache) for the lines and the API
        figures=figures,
    )
    outbox = OutboxComponent(daemon.db, daemon.clock, config)
    # Scheduled actions missed while the box was down are applied now, before the dial loop
    # runs a round: a campaign a missed stop stopped never dials first (SPEC C2).
    schedules = ScheduledActions(config, daemon.db, daemon.clock)
    schedules.start()
    parts: list[Component] = [
        pool, desk, engine, HttpComponent(config, services), outbox, schedules,
    ]  # fmt: skip
    # External lists (SPEC D9): the customers' rows synced in a thread; released after the drain.
    parts.append(ExternalListsComponent(config, daemon.db, daemon.clock, drained=pool.release))
    if config.import_.hot_folder is not None:
        parts.append(HotFolderComponent(config, daemon.clock))
    # Call recordings (#24): retention by age and disk budget, at start and hourly.
    retention = Retention(daemon.db, config.recordings, recordings_directory(config),
                          daemon.clock, metrics)  # fmt: skip
    parts.append(RetentionComponent(retention))
    return parts


def audio_parts(daemon: Daemon, metrics: Metrics) -> AudioParts:
    """The audio path's parts (#24, docs/audio.md): the answering-machine and beep detectors,
    the recorder and the prompt library the engine uses on lines that carry calls' sound."""
    from appliance.audio.amd import detect
    from appliance.audio.prompts import Prompts, prompts_directory
    from appliance.audio.tones import wait_for_beep
    from appliance.recording.recorder import Recorder

    config = daemon.config
    return AudioParts(
        detect=detect,
        wait_for_beep=wait_for_beep,
        recorder=Recorder(
            daemon.db, config.recordings, recordings_directory(config), daemon.clock, metrics
        ),
        prompts=Prompts(prompts_directory(config), tts=config.prompts.tts),
    )


def build_daemon(config_path: str | Path | None, config: DialboxConfig | None = None) -> Daemon:
    return Daemon(config_path, config=config, components=components)
