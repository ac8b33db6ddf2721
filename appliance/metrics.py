"""Prometheus metrics (SPEC O2): counters the engine feeds, and gauges read from the store on scrape.

Names follow the Prometheus conventions: `dialbox_` prefix, base units (seconds, dBm as a plain
gauge), `_total` on counters, and no phone numbers or other personal data in labels. The full
list is in docs/metrics.md, kept true by a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance import __version__
from appliance.store.counts import all_contacts_by_state
from appliance.store.db import Database
from appliance.store.figures import Figures, Snapshot, due_now
from appliance.store.memo import Memo

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The `reason` of dialbox_auth_failures_total (appliance/api/auth.py says when each is counted).
AUTH_FAILURE_REASONS = ("missing", "malformed", "unknown", "revoked", "expired", "code", "limited")

# `*_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client 0.26


@dataclass(frozen=True)
class LineSample:
    """What the metrics need to know about one line right now."""

    name: str
    kind: str  # gsm, v253, can
    up: bool
    signal_dbm: float | None = None
    busy: bool = False


@dataclass(frozen=True)
class AbandonSample:
    campaign: str
    window: str  # "24h" or "30d"
    ratio: float  # abandoned ÷ answered in the window


@dataclass(frozen=True)
class AgentSample:
    state: str
    count: int


@dataclass(frozen=True)
class QueueSample:
    """An inbound campaign's queue now (SPEC C14): callers waiting, the longest wait."""

    campaign: str
    waiting: int
    longest_wait: float  # seconds; 0 with nobody waiting


# The `result` of dialbox_inbound_calls_total: how a call ringing in on a line an inbound
# campaign answers ended (docs/metrics.md).
INBOUND_RESULTS = ("bridged", "hung_up", "caller_gone", "overflow", "missed", "closed", "error")


# The `result` of dialbox_recordings_total and the `reason` of dialbox_recordings_deleted_total.
RECORDING_RESULTS = ("complete", "failed")
RECORDING_DELETIONS = ("age", "budget", "api")


class _StoreCollector(Collector):
    """Gauges computed from the database and the engine's live state at scrape time."""

    def __init__(
        self,
        db: Database | None,
        now: Callable[[], float],
        lines: Callable[[], Iterable[LineSample]],
        abandon: Callable[[], Iterable[AbandonSample]],
        agents: Callable[[], Iterable[AgentSample]],
        queue: Callable[[], Iterable[tuple[str, int]]] | None,
        inbound: Callable[[], Iterable[QueueSample]],
        figures: Figures | None = None,
        box_silence: float = 10.0,
    ) -> None:
        self._db = db
        self._figures = figures
        self._box_silence = box_silence
        self._now = now
        self._lines = lines
        self._abandon = abandon
        self._agents = agents
        self._queue = queue
        self._inbound = inbound
        self._memo = Memo(db) if db is not None else None

    def collect(self) -> Iterator[Metric]:
        """The live gauges: lines, inbound queues, agents, the figures' age."""
        lines, agents, inbound = list(self._lines()), list(self._agents()), list(self._inbound())
        yield from self._line_metrics(lines)
        yield from self._queue_metrics(inbound)
        agents_family = GaugeMetricFamily("dialbox_agents", "Agents by state", labels=["state"])
        for agent in agents:
            agents_family.add_metric([agent.state], agent.count)
        yield agents_family
        snap = self.snapshot()
        if snap is not None:
            yield GaugeMetricFamily(
                "dialbox_figures_age_seconds",
                "How old the scanned figures (abandon ratios, queue depths) were at this scrape",
                value=snap.age(self._now()),
            )

    def snapshot(self) -> Snapshot | None:
        return self._figures.latest() if self._figures is not None else None

    def collect_store(self) -> Iterator[Metric]:
        """The gauges per campaign read from the store and the scanned figures: abandon ratios,
        contacts by state, queue depths, campaigns, external lists (`_StoreFamilies`)."""
        ratio = GaugeMetricFamily(
            "dialbox_abandon_ratio",
            "Abandoned calls divided by answered calls, per campaign, over a rolling window",
            labels=["campaign", "window"],
        )
        for sample in self._abandon():
            ratio.add_metric([sample.campaign, sample.window], sample.ratio)
        yield ratio
        if self._db is not None:
            yield from self._store_metrics(self._db, self.snapshot())

    def store_text(self, registry: CollectorRegistry) -> bytes:
        """`registry` (the `_StoreFamilies`) as text: kept until the store, the figures or the
        second change (store/memo.py) — a poll of /metrics formats ~600 per-campaign samples
        once per change, not once per scrape (#28). Not kept while the queue depths are live
        or there are no figures yet."""
        snap = self.snapshot()
        if self._memo is None or snap is None or self._queue is not None:
            return generate_latest(registry)
        return self._memo.get(
            ("store text", int(self._now())), lambda: generate_latest(registry), inputs=(snap,)
        )

    def _queue_metrics(self, samples: list[QueueSample]) -> Iterator[Metric]:
        length = GaugeMetricFamily(
            "dialbox_inbound_queue_length",
            "Callers waiting for an agent, per inbound campaign",
            labels=["campaign"],
        )
        longest = GaugeMetricFamily(
            "dialbox_inbound_queue_longest_wait_seconds",
            "How long the longest-waiting caller has waited, per inbound campaign",
            labels=["campaign"],
        )
        for sample in samples:
            length.add_metric([sample.campaign], float(sample.waiting))
            longest.add_metric([sample.campaign], sample.longest_wait)
        yield from (length, longest)

    def _line_metrics(self, samples: list[LineSample]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "dialbox_line_up", "1 when the line is open and registered", labels=["line", "kind"]
        )
        busy = GaugeMetricFamily(
            "dialbox_line_busy", "1 while the line carries a call or SMS", labels=["line", "kind"]
        )
        signal = GaugeMetricFamily(
            "dialbox_line_signal_dbm", "Received signal strength in dBm", labels=["line"]
        )
        by_kind: dict[tuple[str, str], int] = {}
        for line in samples:
            up.add_metric([line.name, line.kind], 1.0 if line.up else 0.0)
            busy.add_metric([line.name, line.kind], 1.0 if line.busy else 0.0)
            if line.signal_dbm is not None:
                signal.add_metric([line.name], line.signal_dbm)
            key = (line.kind, "up" if line.up else "down")
            by_kind[key] = by_kind.get(key, 0) + 1
        lines = GaugeMetricFamily(
            "dialbox_lines", "Lines by kind and state", labels=["kind", "state"]
        )
        for (kind, state), count in sorted(by_kind.items()):
            lines.add_metric([kind, state], count)
        yield from (up, busy, signal, lines)

    def _store_metrics(self, db: Database, snap: Snapshot | None) -> Iterator[Metric]:
        # Contacts by state are the counts migration 0014 keeps (store/counts.py); the queue
        # depths come from the scanned figures when there are any (store/figures.py, as old as
        # dialbox_figures_age_seconds says): a scrape reads a few rows per campaign.
        campaigns = [
            (int(i), str(n))
            for i, n in db.conn.execute("SELECT id, name FROM campaigns ORDER BY name")
        ]
        contacts = GaugeMetricFamily(
            "dialbox_contacts", "Contacts by campaign and state", labels=["campaign", "state"]
        )
        kept = all_contacts_by_state(db)
        for campaign_id, name in campaigns:
            for state, count in kept.get(campaign_id, {}).items():
                contacts.add_metric([name, state], float(count))
        yield contacts
        queue = GaugeMetricFamily(
            "dialbox_queue_depth",
            "Contacts due for a dial now (before calling-hours checks)",
            labels=["campaign"],
        )
        if self._queue is not None:
            rows = list(self._queue())
        elif snap is not None:
            rows = [(name, snap.queue.get(campaign_id, 0)) for campaign_id, name in campaigns]
        else:
            rows = self._due_contacts(db, campaigns)
        for name, depth in rows:
            queue.add_metric([name], float(depth))
        yield queue
        running = GaugeMetricFamily("dialbox_campaigns", "Campaigns by status", labels=["status"])
        for status, count in db.conn.execute(
            "SELECT status, count(*) FROM campaigns GROUP BY status"
        ):
            running.add_metric([str(status)], float(count))
        yield running
        # External lists (SPEC D9): results owed to the customer's database, and whether the
        # last round could read it (store/external.py; the partial index on what is owed).
        owed = GaugeMetricFamily(
            "dialbox_external_writes_pending",
            "Results and releases not yet written back to an external list",
            labels=["campaign"],
        )
        readable = GaugeMetricFamily(
            "dialbox_external_list_up",
            "1 when the campaign's external list was readable at its last round, else 0",
            labels=["campaign", "list"],
        )
        names = dict(campaigns)
        for campaign_id, pending in db.conn.execute(
            "SELECT campaign_id, count(*) FROM external_writes WHERE done_at IS NULL"
            " GROUP BY campaign_id"
        ):
            owed.add_metric([names.get(int(str(campaign_id)), "")], float(str(pending)))
        for campaign_id, list_name, error in db.conn.execute(
            "SELECT campaign_id, list_name, error FROM external_status"
        ):
            name = names.get(int(str(campaign_id)), "")
            readable.add_metric([name, str(list_name)], 0.0 if error else 1.0)
        yield owed
        yield readable
        # Several boxes on one store (#27): each box's heartbeat, read from the store, so any
        # box's /metrics shows all of them (a box silent this long is down: store/boxes.py).
        boxes = GaugeMetricFamily(
            "dialbox_box_up",
            "1 while the box heartbeats on the store (silent no longer than two heartbeats), else 0",
            labels=["box"],
        )
        now = self._now()
        for box_id, state, beat in db.conn.execute(
            "SELECT id, state, heartbeat_at FROM boxes ORDER BY id"
        ):
            alive = state == "up" and now - float(str(beat)) <= self._box_silence
            boxes.add_metric([str(box_id)], 1.0 if alive else 0.0)
        yield boxes

    def _due_contacts(
        self, db: Database, campaigns: list[tuple[int, str]]
    ) -> list[tuple[str, int]]:
        """New contacts (contacts_new) and those whose redial or callback time has come
        (contacts_due) in a state that may be dialed, per campaign."""
        now = self._now()
        return [(name, due_now(db, campaign_id, now)) for campaign_id, name in campaigns]


class _StoreFamilies(Collector):
    """The store's part of a scrape, in a registry of its own so its text can be kept."""

    def __init__(self, source: _StoreCollector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return self._source.collect_store()


class Metrics:
    """The daemon's registry. The engine calls the `record_*` methods; `/metrics` calls `render()`."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        now: Callable[[], float] = time.time,
        lines: Callable[[], Iterable[LineSample]] = tuple,
        abandon: Callable[[], Iterable[AbandonSample]] = tuple,
        agents: Callable[[], Iterable[AgentSample]] = tuple,
        queue: Callable[[], Iterable[tuple[str, int]]] | None = None,
        inbound: Callable[[], Iterable[QueueSample]] = tuple,
        figures: Figures | None = None,
        box_silence: float = 10.0,
    ) -> None:
        self.figures = figures
        self._now = now
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Info("dialbox_build", "dialbox version", registry=r).info({"version": __version__})
        self.calls = Counter(
            "dialbox_calls",
            "Voice call attempts ended, by campaign and outcome",
            ["campaign", "outcome"],
            registry=r,
        )
        self.sms = Counter(
            "dialbox_sms",
            "SMS messages by campaign and result (sent, failed, received)",
            ["campaign", "result"],
            registry=r,
        )
        self.emails = Counter(
            "dialbox_emails",
            "E-mail messages by campaign and result (sent, failed, deferred, skipped, bounced)",
            ["campaign", "result"],
            registry=r,
        )
        self.dangling = Counter(
            "dialbox_dangling_attempts",
            "Attempts whose outcome never came back (SPEC C8)",
            ["campaign"],
            registry=r,
        )
        self.driver_errors = Counter(
            "dialbox_driver_errors", "Errors reported by line drivers", ["line", "kind"], registry=r
        )
        self.reconnects = Counter(
            "dialbox_line_reconnects",
            "Times a line was reopened after going down",
            ["line", "kind"],
            registry=r,
        )
        self.call_duration = Histogram(
            "dialbox_call_duration_seconds",
            "Time from dial to the end of the call",
            ["campaign"],
            buckets=(5, 10, 15, 20, 25, 30, 45, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.dial_to_answer = Histogram(
            "dialbox_ring_seconds",
            "Time from dial to answer for answered calls",
            ["campaign"],
            buckets=(1, 2, 5, 10, 15, 20, 25, 30, 45, 60),
            registry=r,
        )
        self.loop_lag = Histogram(
            "dialbox_loop_lag_seconds",
            "How late the event loop ran a timer (a blocked loop: no dialing, no API)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "dialbox_loop_lag_max_seconds",
            "The event loop's longest lag since the daemon started",
            registry=r,
        )
        self.loop_lag_recent = Gauge(
            "dialbox_loop_lag_recent_max_seconds",
            "The event loop's longest lag in the last 60 seconds",
            registry=r,
        )
        self.auth_failures = Counter(
            "dialbox_auth_failures",
            "Failed API authentications on TCP, by reason (missing, malformed, unknown, revoked, "
            "expired token; code: a wrong, expired or used desk login code; limited: refused "
            "unchecked after too many failures from the client)",
            ["reason"],
            registry=r,
        )
        for reason in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(reason)
        self.inbound_calls = Counter(
            "dialbox_inbound_calls",
            "Calls ringing in on lines an inbound campaign answers, by campaign and how they ended "
            "(bridged, hung_up, caller_gone, overflow, missed, closed, error)",
            ["campaign", "result"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "dialbox_inbound_queue_wait_seconds",
            "Time a caller waited in an inbound queue, until an agent took the call, the caller "
            "hung up or the wait ran out",
            ["campaign"],
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        # The audio path (#24): answering-machine verdicts, how long they took, and the
        # frames of calls' sound exchanged and lost (a listener behind, the hardware's overruns).
        self.amd_verdicts = Counter(
            "dialbox_amd_verdicts",
            "Answering-machine detection verdicts on answered calls, by campaign and kind "
            "(person, machine, fax, modem, undecided, hung_up)",
            ["campaign", "kind"],
            registry=r,
        )
        self.amd_decision = Histogram(
            "dialbox_amd_decision_seconds",
            "Audio time from the answer to the answering-machine detector's verdict, by kind",
            ["kind"],
            buckets=(0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 5),
            registry=r,
        )
        self.audio_frames = Counter(
            "dialbox_audio_frames",
            "20 ms frames of calls' sound exchanged with the line hardware, by line",
            ["line"],
            registry=r,
        )
        self.audio_frames_dropped = Counter(
            "dialbox_audio_frames_dropped",
            "Frames of calls' sound lost, by line and cause (listener: a recorder or detector "
            "fell behind; overrun: the hardware or its port lost them)",
            ["line", "cause"],
            registry=r,
        )
        # Call recordings (SPEC O9, #24): appliance/recording/ feeds these.
        self.recordings = Counter(
            "dialbox_recordings",
            "Call recordings finished, by result (complete; failed: the call went on without "
            "one, e.g. the disk was full)",
            ["result"],
            registry=r,
        )
        self.recording_frames_lost = Counter(
            "dialbox_recording_frames_lost",
            "20 ms frames of recorded calls missing from their files (a slow disk), as silence",
            registry=r,
        )
        self.recordings_deleted = Counter(
            "dialbox_recordings_deleted",
            "Recordings deleted, by reason (age: retain_days; budget: the disk budget; api)",
            ["reason"],
            registry=r,
        )
        self.recordings_bytes = Gauge(
            "dialbox_recordings_bytes",
            "Bytes of the recordings kept, as the last retention pass counted them",
            registry=r,
        )
        self.recordings_budget_alert = Gauge(
            "dialbox_recordings_budget_alert",
            "1 when the last retention pass had to delete recordings before their time to keep "
            "within recordings.budget_mb",
            registry=r,
        )
        for result in RECORDING_RESULTS:
            self.recordings.labels(result)
        for reason in RECORDING_DELETIONS:
            self.recordings_deleted.labels(reason)
        self._store = _StoreCollector(
            db, now, lines, abandon, agents, queue, inbound, figures, box_silence
        )
        r.register(self._store)
        # the per-campaign gauges in a registry of their own, so their text can be kept
        self.store_registry = CollectorRegistry(auto_describe=True)
        self.store_registry.register(_StoreFamilies(self._store))

    def record_loop_lag(self, lag: float, longest: float, recent: float | None = None) -> None:
        self.loop_lag.observe(lag)
        self.loop_lag_max.set(longest)
        if recent is not None:
            self.loop_lag_recent.set(recent)

    def record_call(
        self, campaign: str, outcome_label: str, duration: float | None, ring: float | None
    ) -> None:
        self.calls.labels(campaign, outcome_label).inc()
        if duration is not None:
            self.call_duration.labels(campaign).observe(duration)
        if ring is not None:
            self.dial_to_answer.labels(campaign).observe(ring)

    def record_sms(self, campaign: str, result: str) -> None:
        self.sms.labels(campaign, result).inc()

    def record_email(self, campaign: str, result: str) -> None:
        self.emails.labels(campaign, result).inc()

    def record_inbound(self, campaign: str, result: str) -> None:
        """A call ringing in ended (`result`: one of INBOUND_RESULTS)."""
        self.inbound_calls.labels(campaign, result).inc()

    def record_queue_wait(self, campaign: str, seconds: float) -> None:
        self.queue_wait.labels(campaign).observe(max(0.0, seconds))

    def record_amd(self, campaign: str, kind: str, seconds: float) -> None:
        """An answering-machine verdict `kind`, `seconds` of audio after the answer."""
        self.amd_verdicts.labels(campaign, kind).inc()
        self.amd_decision.labels(kind).observe(max(0.0, seconds))

    def record_audio(self, line: str, frames: int, dropped: int, overruns: int) -> None:
        """One call's sound on `line` ended: its frames, and those lost."""
        self.audio_frames.labels(line).inc(frames)
        self.audio_frames_dropped.labels(line, "listener").inc(dropped)
        self.audio_frames_dropped.labels(line, "overrun").inc(overruns)

    def render(self) -> bytes:
        if self.figures is not None:
            self.figures.get(self._now())
        return self._text()

    def _text(self) -> bytes:
        return generate_latest(self.registry) + self._store.store_text(self.store_registry)

    async def render_async(self) -> bytes:
        """`render` for the daemon. The scanned figures are brought up to date in a worker
        thread (store/figures.py); the rest reads the live state, the kept counts and the
        figures on the event loop — a few hundred rows, kept until the database changes
        (store/memo.py) — which is cheaper than a worker thread contending for the GIL with
        the loop (#28: the loop's queries waited for it)."""
        if self.figures is not None:
            await self.figures.get_async(self._now())
        return self._text()
