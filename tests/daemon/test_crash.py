"""SIGKILL the daemon at random moments during a campaign (SPEC C8): nothing lost, nothing dialed twice."""

from __future__ import annotations

import random
from pathlib import Path

from appliance.cli import main
from tests.daemon.campaign import box

KILLS = 20
MAX_ATTEMPTS = 10  # the campaign's default


def test_sigkill_at_random_moments_loses_nothing_and_dials_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    cut: set[int] = set()  # attempts in flight when the daemon was killed
    engine = "  dangling_action: requeue\n  requeue_delay: 7200\n"
    with box(tmp_path, modems=4, contacts=200, engine=engine) as b:

        def finished() -> int:
            return int(str(b.query("SELECT count(*) FROM attempts WHERE status = 'done'")[0][0]))

        for _ in range(KILLS):
            b.daemon.start()
            b.daemon.expect("READY")
            target = finished() + rng.randint(1, 12)
            b.wait_until(
                lambda t=target: finished() >= t or b.settled(), what=f"{target} finished attempts"
            )
            assert b.daemon.proc is not None
            b.daemon.proc.kill()
            b.daemon.proc.wait(10)
            cut |= {
                int(str(r[0]))
                for r in b.query("SELECT id FROM attempts WHERE status = 'in_flight'")
            }

        # the last start finds the attempts the last kill cut, then finishes the campaign
        b.daemon.start()
        b.daemon.expect("READY")
        b.wait_until(b.settled, what="every contact dialed")

        assert cut, "no kill landed while a call was in flight: the test proved nothing"
        # no contact missing, none with a lost or doubled attempt record
        assert b.query("SELECT count(*) FROM contacts") == [(200,)]
        assert b.query(
            "SELECT count(*) FROM contacts k WHERE k.attempts != (SELECT count(*) FROM attempts WHERE contact_id = k.id)"
        ) == [(0,)]
        # every attempt a kill cut became dangling; its contact waits the requeue delay while
        # attempts remain, and is closed when that was its last allowed one (#17)
        rows = b.query(
            "SELECT a.id, k.state, k.next_at - a.ended_at, k.attempts FROM attempts a"
            " JOIN contacts k ON k.id = a.contact_id WHERE a.status = 'dangling'"
        )
        assert {int(str(r[0])) for r in rows} == cut
        for _, state, wait, attempts in rows:
            if int(str(attempts)) < MAX_ATTEMPTS:
                assert state == "Not Connected"
                assert abs(float(str(wait)) - 7200) < 1
            else:
                assert (state, wait) == ("Retries Completed", None)
        # and the records keep their invariants: nothing stranded, no lease without its attempt
        assert main(["--config", str(b.daemon.config), "doctor"]) == 0
        # nobody was dialed twice within the retry delay (the shortest in this strategy is 10 min)
        assert b.query(
            "SELECT count(*) FROM attempts a JOIN attempts b ON a.contact_id = b.contact_id AND b.id > a.id"
            " WHERE b.queued_at - a.queued_at < 600"
        ) == [(0,)]
        assert b.query("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == [(0,)]
