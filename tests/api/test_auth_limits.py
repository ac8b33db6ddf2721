"""Failed authentications per client address (issue #18): a token bucket with exponential
back-off, a table of addresses of bounded size, and an audit trail that cannot be flooded.
Time is a ManualClock: nothing here sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.api.auth import AuditThrottle, AuthGuard, FailureLimiter, client_key
from appliance.clock import ManualClock
from appliance.metrics import Metrics
from appliance.store import open_database


def test_a_burst_of_failures_then_refused_with_a_retry_time() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(burst=10, refill_seconds=6.0, block_seconds=30.0)
    for _ in range(10):
        assert limiter.retry_after("203.0.113.7", clock.now()) is None
        limiter.failed("203.0.113.7", clock.now())
    wait = limiter.retry_after("203.0.113.7", clock.now())
    assert wait == pytest.approx(30.0)
    # Another address is not held back by the first one's failures.
    assert limiter.retry_after("203.0.113.8", clock.now()) is None
    clock.advance(29.0)
    assert limiter.retry_after("203.0.113.7", clock.now()) == pytest.approx(1.0)
    clock.advance(1.0)
    assert limiter.retry_after("203.0.113.7", clock.now()) is None


def test_repeat_offenders_wait_twice_as_long_each_time_up_to_the_cap() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(burst=10, refill_seconds=6.0, block_seconds=30.0, block_max=240.0)
    blocks = []
    for _ in range(6):
        while limiter.retry_after("a", clock.now()) is None:
            limiter.failed("a", clock.now())
        wait = limiter.retry_after("a", clock.now())
        assert wait is not None
        blocks.append(round(wait))
        clock.advance(wait)
    assert blocks == [30, 60, 120, 240, 240, 240]
    # An address quiet for longer than the longest block starts again from the first.
    clock.advance(10_000)
    for _ in range(10):
        limiter.failed("a", clock.now())
    assert limiter.retry_after("a", clock.now()) == pytest.approx(30.0)


def test_the_bucket_refills_with_time() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(burst=10, refill_seconds=6.0, block_seconds=30.0)
    for _ in range(9):
        limiter.failed("a", clock.now())
    clock.advance(12.0)  # two failures back
    for _ in range(3):
        assert limiter.retry_after("a", clock.now()) is None
        limiter.failed("a", clock.now())
    assert limiter.retry_after("a", clock.now()) is not None


def test_the_table_of_addresses_is_bounded_least_recently_failed_out_first() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(burst=10, max_addresses=100)
    for _ in range(10):
        limiter.failed("first", clock.now())
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}", clock.now())
        assert len(limiter) <= 100
    assert len(limiter) == 100
    assert limiter.retry_after("first", clock.now()) is None  # forgotten


def test_ipv6_clients_are_counted_by_their_64_prefix() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"


def test_the_audit_throttle_admits_a_few_per_address_per_minute() -> None:
    clock = ManualClock()
    throttle = AuditThrottle(per_address=5, total=50, window=60.0)
    admitted = sum(throttle.admit("a", clock.now()) for _ in range(1000))
    assert admitted == 5
    assert throttle.admit("b", clock.now())  # another address has its own allowance
    assert throttle.due(clock.now()) is None  # the minute is not over
    clock.advance(60.0)
    summary = throttle.due(clock.now())
    assert summary is not None
    assert summary["suppressed"] == 995
    assert summary["by_address"] == {"a": 995}
    assert throttle.due(clock.now()) is None  # said once
    assert throttle.admit("a", clock.now())  # a new minute


def test_the_audit_throttle_has_a_total_cap_for_many_addresses() -> None:
    clock = ManualClock()
    throttle = AuditThrottle(per_address=5, total=50, window=60.0, max_addresses=100)
    admitted = sum(throttle.admit(f"10.1.{i // 256}.{i % 256}", clock.now()) for i in range(5000))
    assert admitted == 50
    summary = throttle.due(clock.now(), final=True)
    assert summary is not None
    assert summary["suppressed"] == 4950
    assert len(summary["by_address"]) <= 20


def test_the_guard_audits_and_counts_each_failure_boundedly(tmp_path: Path) -> None:
    clock = ManualClock()
    db = open_database(tmp_path / "g.db")
    metrics = Metrics(db)
    guard = AuthGuard()
    statuses = []
    for _ in range(1000):
        wait = guard.check("192.0.2.9", db, metrics, clock.now())
        if wait is not None:
            statuses.append(429)
            continue
        guard.failed("192.0.2.9", "unknown", db, metrics, clock.now(), "GET /campaigns")
        statuses.append(401)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    guard.flush(db, clock.now(), final=True)
    rows = db.conn.execute("SELECT actor, action, target, detail FROM audit").fetchall()
    failed = [r for r in rows if r[1] == "auth.failed"]
    summaries = [r for r in rows if r[1] == "auth.suppressed"]
    assert len(failed) == 5 and len(summaries) == 1
    assert failed[0][2] == "192.0.2.9" and json.loads(failed[0][3])["reason"] == "unknown"
    assert json.loads(summaries[0][3])["suppressed"] == 995
    text = metrics.render().decode()
    assert 'dialbox_auth_failures_total{reason="unknown"} 10.0' in text
    assert 'dialbox_auth_failures_total{reason="limited"} 990.0' in text
    assert "192.0.2.9" not in text  # no addresses in labels
    db.close()


def test_requests_without_a_token_guess_nothing_and_are_not_limited(tmp_path: Path) -> None:
    """A client (a scraper, a fuzzer probing the API) that sends no token at all is answered 401
    every time and audited, but never blocked: it cannot be guessing a token."""
    clock = ManualClock()
    db = open_database(tmp_path / "g.db")
    metrics = Metrics(db)
    guard = AuthGuard()
    for _ in range(100):
        assert guard.check("192.0.2.10", db, metrics, clock.now()) is None
        guard.failed("192.0.2.10", "missing", db, metrics, clock.now(), "GET /campaigns")
    assert 'dialbox_auth_failures_total{reason="missing"} 100.0' in metrics.render().decode()
    db.close()
