"""The bench scripts the issues name run as written, on tiny inputs (their figures are not judged
here: bench/ prints them; a test only checks the script works and says what it measured)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_bench_select_runs_under_the_issues_name() -> None:
    done = _run("bench/select.py", "--contacts", "1500", "--campaigns", "3", "--dnc", "1000",
                "--picks", "10")  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["target_p99_ms"] == 2.0
    assert figures["noon_new_york"]["pick_1"]["p99_ms"] > 0


def test_a_bench_script_still_gets_the_standard_librarys_select() -> None:
    """bench/select.py shares the stdlib module's name and bench/ comes first on a bench
    script's sys.path: what `import select` gives there must be the real module."""
    code = (
        "import sys; sys.path.insert(0, 'bench'); import select, subprocess; "
        "print(select.__file__, hasattr(select, 'poll'), subprocess.run(['true']).returncode)"
    )
    done = _run("-c", code)
    assert done.returncode == 0, done.stderr
    where, has_poll, rc = done.stdout.split()
    assert "bench" not in where and has_poll == "True" and rc == "0"


def test_bench_chaos_says_what_it_measures() -> None:
    """bench/chaos.py runs for minutes (tests/daemon/test_chaos_short.py runs its kills phase
    small); here only its command line."""
    done = _run("bench/chaos.py", "--help")
    assert done.returncode == 0, done.stderr
    for words in ("--phase", "--kills", "--quick", "modem_calls_missing_from_db",
                  "line_down_seconds", "max_dial_loop_stall_ms"):  # fmt: skip
        assert words in done.stdout


def test_bench_pacing_says_what_it_measures_and_runs_quick() -> None:
    """bench/pacing.py runs 20 eight-hour days per scenario (research/pacing.md §5); here its
    command line and the tiny quick mode (S1 and M1, one hour)."""
    done = _run("bench/pacing.py", "--help")
    assert done.returncode == 0, done.stderr
    for words in ("--scenario", "--seeds", "--quick", "CMDP", "rolling"):
        assert words in done.stdout
    done = _run("bench/pacing.py", "--quick", "--mode", "both")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert {(r["scenario"], r["mode"]) for r in results} == {
        ("S1", "progressive"),
        ("S1", "predictive"),
        ("M1", "progressive"),
        ("M1", "predictive"),
    }
    for r in results:
        assert 0.3 < r["occupancy"] < 0.9 and "rolling_30min_max" in r and "days_over_cap" in r
    assert "ratio_to_cmdp" in next(r for r in results if r["scenario"] == "M1")


def test_bench_reports_runs_small_and_says_what_it_measured() -> None:
    """bench/reports.py builds 1M attempts by default; here 3,000 over 3 days."""
    done = _run("bench/reports.py", "--attempts", "3000", "--days", "3", "--runs", "1")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["attempts"] == 3000 and figures["target_ms_for_a_day"] == 500.0
    assert any("attempts_campaign_time" in step for step in figures["attempts_query_plan"])
    assert not any(step.startswith("SCAN a") for step in figures["attempts_query_plan"])
    for kind in ("agents", "lines", "campaigns"):
        assert figures[kind]["day_by_hour"]["attempts_in_period"] == 1000
        assert figures[kind]["day_by_hour"]["median_ms"] > 0


def test_bench_api_runs_tiny_and_says_what_it_measured(tmp_path: Path) -> None:
    """bench/api.py polls the real daemon at 1M contacts for 60 s by default; here 2,000
    contacts, 2 clients for 3 s: every endpoint answered, the daemon's CPU and the loop's
    stall read, and the generated database left in the cache."""
    args = ("bench/api.py", "--contacts", "2000", "--campaigns", "3", "--running", "2",
            "--modems", "2", "--clients", "2", "--seconds", "3", "--warmup", "0", "--quiet-seconds", "1",
            "--cache", str(tmp_path), "--json")  # fmt: skip
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["contacts"] == 2000 and figures["generation_seconds"] is not None
    assert figures["attempts_in_database"] > 0
    for endpoint in ("/status", "/campaigns", "/campaigns/{name}", "/metrics"):
        answered = figures["endpoints"][endpoint]
        assert answered["count"] > 0 and 0 < answered["p50_ms"] <= answered["p99_ms"]
    assert figures["errors"] == 0 and figures["requests_per_second"] > 0
    assert figures["daemon_cpu_cores"] > 0 and figures["dials_in_window"] >= 0
    assert figures["unpolled_window"]["seconds"] >= 1.0  # the same figures, not polled
    assert figures["worst_loop_stall_ms"] is not None and "stall_source" in figures
    assert [p.suffix for p in tmp_path.iterdir()] == [".db"]  # the cache, no partial left


def test_bench_api_refuses_a_database_it_cannot_build(tmp_path: Path) -> None:
    """A cache directory that is a file: the bench says so and fails, leaving nothing running."""
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    done = _run("bench/api.py", "--contacts", "100", "--campaigns", "2", "--seconds", "1",
                "--cache", str(blocker), "--json")  # fmt: skip
    assert done.returncode != 0 and done.stdout == ""
    assert f"cannot keep the generated database in {blocker}" in done.stderr
    assert "pass --cache DIR" in done.stderr


def test_bench_cluster_runs_tiny_and_counts_no_double_dial() -> None:
    """bench/cluster.py runs 10 boxes × 64 lines on 100k contacts; here 3 × 4 on 300, on a
    throwaway PostgreSQL it starts itself."""
    from tests.pgserver import pg_bin

    if pg_bin() is None:
        import pytest

        pytest.skip("no PostgreSQL server binaries: install Debian's `postgresql` package")
    done = _run("bench/cluster.py", "--boxes", "3", "--lines", "4", "--contacts", "300",
                "--seconds", "2", "--call-ms", "20", "--kill", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["attempts"] > 0 and figures["lease_p99_ms"] > 0
    assert figures["double_dials_seen"] == 0 and figures["overlapping_attempts"] == 0
    assert figures["cpu_postgresql_cores"] is not None  # its own server: its CPU is read


def test_bench_cluster_runs_tiny_and_says_what_it_measured(pg_url: str) -> None:
    """bench/cluster.py runs 10 boxes x 64 lines on 100k contacts; here 3 x 4 on 500 for 3 s,
    one box killed halfway: it says what it measured, and nothing was dialed twice or lost."""
    done = _run("bench/cluster.py", "--url", pg_url, "--boxes", "3", "--lines", "4",
                "--contacts", "500", "--seconds", "3", "--kill", "1", "--call-ms", "100")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    found = json.loads(done.stdout)
    assert found["killed"] == ["box0"] and found["attempts"] > 0
    assert found["double_dials_seen"] == 0 and found["overlapping_attempts"] == 0
    assert found["attempts_left_in_flight"] == 0
    assert {"lease_p50_ms", "lease_p99_ms", "leases_per_s", "cpu_per_box_cores"} <= set(found)
