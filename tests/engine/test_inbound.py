"""Calls ringing in, answered by the engine and run through the inbound campaign's flow (SPEC C14,
issue #23): the real daemon in one process over an emulated line card (tests/engine/inbound_rig.py).
What is recorded — the attempt (direction 'in'), its steps and answers, missed calls, callbacks,
DNC — is what the API, the export and the webhook show."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from appliance.domain import CampaignStatus, Outcome
from appliance.drivers.can.protocol import Op
from appliance.drivers.emulators.can_card import CardScript
from appliance.drivers.emulators.plans import Plan, digits
from appliance.engine.flowactions import CALLBACK_DELAY
from appliance.importing.importer import import_file
from appliance.store.campaigns import get_campaign, update_campaign
from appliance.store.export import attempt_rows
from tests.drivers.drivers_fakes import run
from tests.engine.inbound_rig import TIME_SCALE, evidence, rig

CALLER = "+12125550123"
OTHER = "+13125550177"


def test_1_puts_the_caller_through_to_the_ready_agent_who_sees_the_known_contacts(
    tmp_path: Path,
) -> None:
    """The caller asks for a callback (2), then calls again and presses 1: bridged to the ready
    agent within 2 s of the key, whose screen shows the callback contact the first call made."""

    async def main() -> None:
        async with rig(tmp_path) as r:
            r.agent_ready()
            r.ring(1, f"{CALLER} keys=2@5 hangup=400 ring=100")
            await r.until(lambda: len(r.done()) == 1, "the first call recorded")
            [first] = r.done()
            [(callback, due)] = r.rows("SELECT id, callback_at FROM contacts WHERE external_id = ?",
                                       (f"callback:{CALLER}",))  # fmt: skip
            # cb may call at any time: due once the caller is off the line (CALLBACK_DELAY)
            assert due == pytest.approx(first["ended_at"] + CALLBACK_DELAY, abs=2.0)
            assert any(k == "callback" and f"contact {callback}" in d
                       for _, _, k, d in r.steps(first["id"]))  # fmt: skip

            r.ring(1, f"{CALLER} keys=1@5 hangup=40 ring=100")
            agent = r.desk.agents["agent1"]
            await r.until(lambda: agent.state == "talking", "the agent talking")
            assert agent.call is not None
            pop = agent.call.contact
            assert [m["contact_id"] for m in pop["matched"]] == [callback], pop
            assert pop["caller_id"] and pop["new_caller"] is False
            snap = r.engine.inbound.snapshot()
            assert [c.agent for c in snap.talking] == ["agent1"] and snap.waiting == ()
            await r.until(lambda: len(r.done()) == 2, "the second call recorded")
            second = r.done()[1]
            assert second["agent"] == "agent1" and second["outcome"] == int(Outcome.CONNECTED)
            assert second["contact_id"] == first["contact_id"]  # one caller, one contact
            steps = r.steps(second["id"])
            key = next(at for at, _, kind, detail in steps if kind == "input" and detail == "1")
            bridged = next(at for at, _, kind, detail in steps
                           if kind == "queue" and detail.endswith("bridged"))  # fmt: skip
            assert 0 <= bridged - key < 2.0, steps
            assert "agent agent1 at desk1" in evidence(second)
            assert len([c for c in r.card.commands if c.op == Op.BRIDGE]) == 1
            [(payload,)] = r.rows("SELECT payload FROM outbox WHERE attempt_id = ?",
                                  (second["id"],))  # fmt: skip
            doc = json.loads(payload)
            assert doc["direction"] == "in" and doc["agent"] == "agent1"
            assert doc["matched"] == [callback]
            assert [s["kind"] for s in doc["steps"]][:3] == ["play", "play", "input"]
            await r.until(lambda: agent.state == "ready", "the agent ready after wrap-up")

    run(main(), timeout=60)


def test_9_then_1_puts_the_number_on_the_dnc_list_before_the_call_ends(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            r.ring(2, f"{CALLER} keys=9@5,1@8 hangup=400 ring=100")
            await r.until(lambda: len(r.done()) == 1, "the call recorded")
            [call] = r.done()
            added, reason, campaign = r.one(
                "SELECT added_at, reason, campaign_id FROM dnc WHERE e164 = ?", (CALLER,)
            )
            assert campaign is None and reason == "inbound opt-out"  # the global list
            assert added < call["ended_at"], (added, call)
            kinds = [(kind, detail) for _, _, kind, detail in r.steps(call["id"])]
            assert ("opt_out", f"{CALLER} on the DNC list") in kinds, kinds
            assert kinds[-2:] == [("play", "thanks"), ("hang_up", "")], kinds
            assert call["outcome"] == int(Outcome.CONNECTED) and call["line"] == "fxo2"

    run(main(), timeout=60)


def test_a_busy_desk_queues_callers_who_hang_up_are_missed_and_the_wait_overflows_to_a_callback(
    tmp_path: Path,
) -> None:
    """One agent, on a call. The next caller waits and hangs up: a missed call. The one after
    waits until the agent is free again and is put through within 2 s of that. The last waits
    the queue's 5 s with the agent busy: the overflow makes a callback for the missed call."""

    async def main() -> None:
        async with rig(tmp_path, inbound={"overflow": "callback"}, lines=4) as r:
            r.agent_ready()
            agent = r.desk.agents["agent1"]
            r.ring(1, f"{CALLER} keys=1@5 hangup=60 ring=100")  # talks 3 s
            await r.until(lambda: agent.state == "talking", "the agent on the first call")
            r.ring(2, f"{OTHER} keys=1@5 hangup=16 ring=100")  # waits 0.5 s, then hangs up
            await r.until(lambda: r.engine.inbound.snapshot().waiting != (), "a caller waiting")
            [waiting] = r.engine.inbound.snapshot().waiting
            assert (waiting.campaign, waiting.line) == ("in", "fxo2")
            text = r.daemon.metrics.render().decode()
            assert 'dialbox_inbound_queue_length{campaign="in"} 1.0' in text
            await r.until(lambda: any(m["reason"] == "hung_up_in_queue" for m in r.missed()),
                          "the missed call")  # fmt: skip
            [missed] = r.missed()
            assert missed["number"] == OTHER and missed["status"] == "open"
            assert missed["attempt_id"] is not None and 0 < missed["waited"] < 5
            gone = next(a for a in r.done() if a["id"] == missed["attempt_id"])
            assert gone["agent"] is None and gone["outcome"] == int(Outcome.ABANDONED)
            assert r.steps(gone["id"])[-1][2:] == ("caller_gone", "the caller hung up")

            third = "+14155550188"
            r.ring(3, f"{third} keys=1@5 ring=100")  # stays until the box hangs up
            await r.until(lambda: agent.call is not None and agent.call.number == third
                          and agent.state == "talking", "the third caller put through")  # fmt: skip
            [(ready_at,)] = r.rows(
                "SELECT max(at) FROM agent_states WHERE agent = 'agent1' AND state = 'ready'"
            )
            assert agent.call.connected_at is not None
            assert 0 <= agent.call.connected_at - ready_at < 2.0

            r.ring(2, f"{OTHER} keys=1@5 ring=1000")  # the agent stays busy: overflow
            await r.until(lambda: any(m["reason"] == "overflow" for m in r.missed()),
                          "the overflow", timeout=20)  # fmt: skip
            over = next(m for m in r.missed() if m["reason"] == "overflow")
            assert over["number"] == OTHER and over["status"] == "callback_made"
            assert over["waited"] >= 5.0 and over["calls"] == 2  # the open one, called again
            state, due = r.one("SELECT state, callback_at FROM contacts WHERE id = ?",
                               (over["callback_contact_id"],))  # fmt: skip
            assert state == "Pending" and due is not None
            await r.until(lambda: len(r.done()) == 3, "the overflowed call recorded")
            last = max(r.done(), key=lambda a: a["id"])
            assert any(e.startswith("overflow: callback contact") for e in evidence(last))
            assert last["outcome"] == int(Outcome.NO_AGENT)

    run(main(), timeout=90)


def test_closed_hours_and_lines_no_campaign_answers_on_ring_unanswered_and_are_never_dialed(
    tmp_path: Path,
) -> None:
    """Before its start date the campaign is closed: with no closed-hours flow the call is not
    answered and is kept as a missed call `closed`; with one it is answered and runs it. A line
    no inbound campaign answers on is left ringing, and nothing is kept. No line is dialed while
    it rings."""

    async def main() -> None:
        tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
        async with rig(tmp_path, inbound={"start_date": tomorrow}) as r:
            r.ring(1, f"{CALLER} ring=20")  # gives up after 1 s
            slot = r.engine.pool.slot("fxo1")
            await r.until(lambda: slot.ringing, "the line ringing")
            assert slot not in list(r.engine.pool.free())  # never dialed while it rings
            [ringing] = r.engine.inbound.snapshot().ringing
            assert (ringing.line, ringing.campaign) == ("fxo1", "in")
            assert ringing.unanswered.startswith("before its start date"), ringing
            r.ring(3, f"{OTHER} ring=20")  # fxo3: no inbound campaign answers there
            await r.until(lambda: r.missed() != [] and not slot.ringing, "the missed call")
            await r.until(lambda: not r.engine.pool.slot("fxo3").ringing, "fxo3 quiet again")
            [missed] = r.missed()
            assert (missed["number"], missed["reason"], missed["line"]) == (
                CALLER,
                "closed",
                "fxo1",
            )
            assert missed["attempt_id"] is None and missed["waited"] > 0
            assert r.attempts() == []  # nothing answered
            assert not [c for c in r.card.commands if c.op == Op.ANSWER]
            text = r.daemon.metrics.render().decode()
            assert 'dialbox_inbound_calls_total{campaign="in",result="closed"} 1.0' in text

            campaign = get_campaign(r.db, "in")
            update_campaign(r.db, campaign, {"settings": {**campaign.settings,
                            "closed_flow": "menu"}}, r.clock.now(), "test")  # fmt: skip
            r.ring(1, f"{CALLER} keys=2@5 hangup=40 ring=100")
            await r.until(lambda: len(r.done()) == 1, "the call answered in closed hours")
            [call] = r.done()
            assert any(kind == "callback" for _, _, kind, _ in r.steps(call["id"]))

    run(main(), timeout=60)


def test_the_line_lost_mid_flow_records_an_error_and_answers_again_once_back(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            r.ring(1, f"{CALLER} ring=100")  # presses nothing: the menu waits for a key
            await r.until(lambda: len([c for c in r.card.commands if c.op == Op.PLAY]) >= 2,
                          "the menu asked")  # fmt: skip
            assert len(r.engine.inbound.snapshot().in_flow) == 1
            # an hour-long call: the running sweep (engine.dangling_timeout) leaves it alone
            [(up,)] = r.rows("SELECT id FROM attempts WHERE status = 'in_flight'")
            r.db.conn.execute("UPDATE attempts SET queued_at = queued_at - 3600 WHERE id = ?",
                              (up,))  # fmt: skip
            r.engine._last_sweep = 0.0
            r.engine._sweep()
            assert r.one("SELECT status FROM attempts WHERE id = ?", (up,)) == "in_flight"
            r.card.fault(1)
            await r.until(lambda: len(r.done()) == 1, "the lost call recorded")
            [lost] = r.done()
            assert lost["outcome"] == int(Outcome.ERROR_OCCURRED), lost
            assert "EMCY 0xFF02 port stuck" in evidence(lost), lost
            assert r.steps(lost["id"])[0][2] == "play"  # what was done before is kept
            assert r.missed() == []
            assert not r.engine.pool.slot("fxo1").busy
            r.card.clear(1)
            await r.until(lambda: r.engine.pool.slot("fxo1").up, "the line back")
            r.ring(1, f"{OTHER} keys=2@5 hangup=40 ring=100")
            await r.until(lambda: len(r.done()) == 2, "the next call answered")
            assert r.done()[1]["outcome"] == int(Outcome.CONNECTED)
            text = r.daemon.metrics.render().decode()
            assert 'dialbox_inbound_calls_total{campaign="in",result="error"} 1.0' in text

    run(main(), timeout=60)


def test_a_caller_who_hangs_up_mid_prompt_ends_the_flow_and_a_withheld_caller_is_told_no(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            r.ring(2, f"{CALLER} hangup=1 ring=100")  # gone 0.05 s into the 0.1 s welcome
            await r.until(lambda: len(r.done()) == 1, "the call recorded")
            [call] = r.done()
            steps = r.steps(call["id"])
            assert steps[-1][2:] == ("caller_gone", "the caller hung up"), steps
            assert [kind for _, _, kind, _ in steps].count("play") <= 1, steps
            assert call["ended_at"] - call["answered_at"] < 1.0  # no key timeout waited out
            assert call["outcome"] == int(Outcome.CONNECTED)
            assert r.missed() == []  # answered and not queued: not a missed call

            # a withheld caller asks to be taken off the list, then for a callback: neither can
            # be done without a number, each says so in a step, and the flow goes on
            r.ring(1, "withheld keys=9@5,1@8 hangup=300 ring=100")
            await r.until(lambda: len(r.done()) == 2, "the withheld opt-out recorded")
            r.ring(1, "withheld keys=2@5 hangup=300 ring=100")
            await r.until(lambda: len(r.done()) == 3, "the withheld callback recorded")
            opt, back = r.done()[1:]
            assert (opt["number"], back["number"]) == ("", "")
            assert opt["contact_id"] != back["contact_id"]  # withheld callers are not one caller
            details = [(k, d) for a in (opt, back) for _, _, k, d in r.steps(a["id"])]
            assert ("error", "opt_out failed: DialboxError: the caller's number is withheld:"
                    " nothing to put on the DNC list") in details, details  # fmt: skip
            assert any(k == "callback" and d.startswith("not made: the caller's number was"
                                                        " withheld") for k, d in details)  # fmt: skip
            assert r.rows("SELECT count(*) FROM dnc") == [(0,)]
            assert r.rows("SELECT count(*) FROM contacts k JOIN campaigns c ON c.id ="
                          " k.campaign_id WHERE c.name = 'cb'") == [(0,)]  # fmt: skip

    run(main(), timeout=60)


def test_the_same_caller_on_two_lines_at_once_is_two_calls_of_one_caller(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path) as r:
            r.ring(1, f"{CALLER} keys=2@5 hangup=30 ring=100")
            r.ring(2, f"{CALLER} keys=2@6 hangup=30 ring=100")
            await r.until(lambda: len(r.done()) == 2, "both calls recorded")
            first, second = r.done()
            assert first["contact_id"] == second["contact_id"]
            assert {first["line"], second["line"]} == {"fxo1", "fxo2"}
            callbacks = r.rows("SELECT id FROM contacts WHERE external_id = ?",
                               (f"callback:{CALLER}",))  # fmt: skip
            assert len(callbacks) == 1  # the second call finds the first one's callback
            details = [d for a in (first, second) for _, _, k, d in r.steps(a["id"])
                       if k == "callback"]  # fmt: skip
            assert sorted("already" in d for d in details) == [False, True], details
            assert r.one("SELECT attempts FROM contacts WHERE id = ?", (first["contact_id"],)) == 2

    run(main(), timeout=60)


SURVEYED = "+12125550150"


def test_an_automated_survey_runs_its_flow_on_the_answered_call_and_keeps_the_answers(
    tmp_path: Path,
) -> None:
    """The callee answers and presses 4, 1, 3 5 #: three answers, the disposition and every step
    are kept on the attempt, exported (D6) and sent to the webhook; the keys stay evidence."""
    plans = {digits(SURVEYED): Plan("answer", ring=2.0, talk=400.0, dtmf="4135#")}
    script = CardScript(time_scale=TIME_SCALE, numbers=plans, lift_after=0.2)

    async def main() -> None:
        async with rig(tmp_path, script=script) as r:
            survey = get_campaign(r.db, "survey")
            survey = update_campaign(r.db, survey, {"settings": {**survey.settings,
                                     "webhook": "http://crm.test/s"}}, r.clock.now(), "test")  # fmt: skip
            csv = tmp_path / "s.csv"
            csv.write_text(f"{SURVEYED},,,,,Surveyed\n")
            import_file(r.db, survey, csv, region="US", mappings={}, now=r.clock.now(),
                        actor="test", source="test")  # fmt: skip
            update_campaign(r.db, survey, {"status": CampaignStatus.RUNNING}, r.clock.now(),
                            "test")  # fmt: skip
            await r.until(lambda: len(r.done("out")) == 1, "the survey call recorded")
            [call] = r.done("out")
            assert call["line"] == "fxo3" and call["outcome"] == int(Outcome.CONNECTED), call
            assert r.answers(call["id"]) == {"satisfaction": "4", "recommend": "yes", "age": "35"}
            assert call["disposition"] == "survey-complete"
            assert "dtmf 4135#" in evidence(call) and "flow survey" in evidence(call)
            kinds = [kind for _, _, kind, _ in r.steps(call["id"])]
            assert kinds[-2:] == ["play", "hang_up"] and kinds.count("input") == 3, kinds
            [row] = list(attempt_rows(r.db, get_campaign(r.db, "survey")))
            assert row["direction"] == "out"
            assert row["answers"] == {"satisfaction": "4", "recommend": "yes", "age": "35"}
            assert [s["kind"] for s in row["steps"]] == kinds
            [(payload,)] = r.rows("SELECT payload FROM outbox WHERE attempt_id = ?", (call["id"],))
            doc = json.loads(payload)
            assert doc["answers"]["age"] == "35" and doc["disposition"] == "survey-complete"
            assert doc["direction"] == "out" and len(doc["steps"]) == len(kinds)
            assert r.one("SELECT state FROM contacts WHERE e164_1 = ?", (SURVEYED,)) == "Connected"

    run(main(), timeout=60)
