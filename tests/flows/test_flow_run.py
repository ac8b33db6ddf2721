"""Running flows on a scripted caller: a survey, a menu (agent, callback, opt-out), and a caller
who hangs up, stays silent, presses garbage or never stops pressing keys."""

from __future__ import annotations

import itertools
from pathlib import Path

from appliance.flows import MAX_STEPS, Flow
from tests.flows.fakes import GONE, KEY_SECONDS, PLAY_SECONDS, RecordingActions, ScriptedCall, run
from tests.flows.fakes import flow_from as _flow_from

SURVEY = """
survey:
  start: hello
  nodes:
    hello:
      play: survey-hello
      next: q1
    q1:
      ask: q1-how-satisfied        # 1 to 5
      question: satisfaction
      on:
        1-5: q2
      invalid: sorry-1-to-5
      no_input: sorry-no-key
      retries: 1
      give_up: bye
    q2:
      ask: q2-recommend            # 1 yes, 2 no
      on:
        "1": q2-yes
        "2": q2-no
    q2-yes:
      answer: {recommend: "yes"}
      next: q3
    q2-no:
      answer: {recommend: "no"}
      next: q3
    q3:
      ask: q3-age                  # up to 3 digits, then #
      digits: 3
      end_key: "#"
      timeout: 7
      otherwise: q3-keep
      give_up: bye
    q3-keep:
      answer: {age: $input}
      next: done
    done:
      set: {bp3: surveyed, bp4: $input}
      next: mark
    mark:
      disposition: survey-complete
      next: bye
    bye:
      goodbye: thanks-bye
"""

MENU = """
menu:
  start: welcome
  nodes:
    welcome:
      play: welcome
      next: choose
    choose:
      ask: press-1-2-or-9
      on:
        "1": agent
        "2": callback
        "9": stop-calls
      invalid: not-an-option
      give_up: bye
    agent:
      queue: sales
      overflow: callback
    callback:
      callback: callbacks
      owner: alice
      next: bye
    stop-calls:
      opt_out: confirm
      prompt: press-1-to-confirm
      next: removed
      cancel: choose
    removed:
      goodbye: you-are-removed
    bye:
      goodbye: thanks-bye
"""


def _survey(tmp_path: Path) -> Flow:
    return _flow_from(SURVEY, tmp_path, "survey")


def _menu(tmp_path: Path) -> Flow:
    return _flow_from(MENU, tmp_path, "menu")


def test_a_three_question_survey_stores_every_answer_with_times_from_the_clock(
    tmp_path: Path,
) -> None:
    call = ScriptedCall(["4", "1", "4", "2", "#"])
    start = call.clock.now()
    actions = RecordingActions()
    result = run(_survey(tmp_path), call, actions)
    assert result.end == "hung_up"
    assert result.answers == {"satisfaction": "4", "recommend": "yes", "age": "42"}
    assert result.fields == {"bp3": "surveyed", "bp4": "42"}
    assert result.disposition == "survey-complete"
    assert actions.done == [("set_field", "bp3", "surveyed"), ("set_field", "bp4", "42")]
    assert call.played == ["survey-hello", "q1-how-satisfied", "q2-recommend", "q3-age",
                           "thanks-bye"]  # fmt: skip
    assert call.hung_up == 1
    assert call.waits == [5.0, 5.0, 7.0, 7.0, 7.0]
    kinds = [(s.node, s.kind, s.detail) for s in result.steps]
    assert kinds == [
        ("hello", "play", "survey-hello"),
        ("q1", "play", "q1-how-satisfied"),
        ("q1", "input", "4"),
        ("q1", "answer", "satisfaction=4"),
        ("q2", "play", "q2-recommend"),
        ("q2", "input", "1"),
        ("q2-yes", "answer", "recommend=yes"),
        ("q3", "play", "q3-age"),
        ("q3", "input", "42"),
        ("q3-keep", "answer", "age=42"),
        ("done", "set", "bp3=surveyed"),
        ("done", "set", "bp4=42"),
        ("mark", "disposition", "survey-complete"),
        ("bye", "play", "thanks-bye"),
        ("bye", "hang_up", ""),
    ]
    # The times are the clock's, moved only by the call: 2 s a prompt, 0.5 s a key.
    assert result.steps[0].at == start + PLAY_SECONDS
    assert result.steps[2].at == start + 2 * PLAY_SECONDS + KEY_SECONDS
    assert result.steps[-1].at == call.clock.now()
    assert [s.at for s in result.steps] == sorted(s.at for s in result.steps)


def test_menu_1_queues_to_an_agent_and_the_flow_is_over_when_bridged(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["1"]), RecordingActions(queue_result="bridged")
    result = run(_menu(tmp_path), call, actions)
    assert result.end == "bridged"
    assert actions.done == [("queue", "sales")]
    assert call.hung_up == 0  # the agent has the call now
    assert result.steps[-1].kind == "queue" and result.steps[-1].detail == "sales: bridged"


def test_menu_1_with_no_agent_overflows_to_a_callback(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["1"]), RecordingActions(queue_result="overflow")
    result = run(_menu(tmp_path), call, actions)
    assert result.end == "hung_up"
    assert actions.done == [("queue", "sales"), ("callback", "callbacks", "alice")]
    assert ("callback", "callback", "contact 7 in callbacks") in [
        (s.node, s.kind, s.detail) for s in result.steps
    ]


def test_menu_2_requests_a_callback(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["2"]), RecordingActions()
    result = run(_menu(tmp_path), call, actions)
    assert actions.done == [("callback", "callbacks", "alice")]
    assert result.end == "hung_up" and call.played[-1] == "thanks-bye"


def test_menu_9_then_1_puts_the_number_on_the_dnc_list_before_the_goodbye(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["9", "1"]), RecordingActions()
    result = run(_menu(tmp_path), call, actions)
    assert actions.done == [("opt_out",)]
    assert call.played == ["welcome", "press-1-2-or-9", "press-1-to-confirm", "you-are-removed"]
    opt = [s for s in result.steps if s.kind == "opt_out"]
    assert opt[0].detail == "+48601234567 on the DNC list"
    assert result.end == "hung_up"


def test_menu_9_not_confirmed_goes_back_to_the_menu_and_nothing_is_listed(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["9", "5", "2"]), RecordingActions()
    result = run(_menu(tmp_path), call, actions)
    assert ("opt_out",) not in actions.done
    assert ("stop-calls", "opt_out", "not confirmed (5)") in [
        (s.node, s.kind, s.detail) for s in result.steps
    ]
    assert actions.done == [("callback", "callbacks", "alice")]


def test_an_opt_out_at_once_needs_no_key(tmp_path: Path) -> None:
    flow = _flow_from(
        "f:\n  start: out\n  nodes:\n    out: {opt_out: at_once, next: bye}\n"
        "    bye: {goodbye: removed}\n", tmp_path, "f",
    )  # fmt: skip
    call, actions = ScriptedCall([]), RecordingActions()
    result = run(flow, call, actions)
    assert actions.done == [("opt_out",)] and call.waits == []
    assert result.end == "hung_up"


def test_the_caller_hanging_up_during_a_prompt_keeps_what_was_collected(tmp_path: Path) -> None:
    call = ScriptedCall(["3"], gone_at_prompt="q2-recommend")
    result = run(_survey(tmp_path), call, RecordingActions())
    assert result.end == "caller_gone"
    assert result.answers == {"satisfaction": "3"}
    assert result.steps[-1].kind == "caller_gone" and result.steps[-1].node == "q2"
    assert call.hung_up == 0


def test_the_caller_hanging_up_while_keys_are_awaited(tmp_path: Path) -> None:
    call = ScriptedCall(["5", "2", "1", GONE])  # q3: one digit, then gone before the end key
    result = run(_survey(tmp_path), call, RecordingActions())
    assert result.end == "caller_gone"
    assert result.answers == {"satisfaction": "5", "recommend": "no"}
    assert result.disposition is None


def test_invalid_input_replays_then_gives_up_after_the_retries(tmp_path: Path) -> None:
    call = ScriptedCall(["7", "0"])  # q1 accepts 1-5; retries: 1
    result = run(_survey(tmp_path), call, RecordingActions())
    assert call.played == ["survey-hello", "q1-how-satisfied", "sorry-1-to-5",
                           "q1-how-satisfied", "sorry-1-to-5", "thanks-bye"]  # fmt: skip
    assert [s.detail for s in result.steps if s.kind == "invalid"] == ["7", "0"]
    assert ("q1", "give_up", "2 tries") in [(s.node, s.kind, s.detail) for s in result.steps]
    assert result.answers == {} and result.end == "hung_up"


def test_silence_times_out_with_the_no_input_prompt_and_the_clock_moves_by_the_timeouts(
    tmp_path: Path,
) -> None:
    call = ScriptedCall([])
    start = call.clock.now()
    result = run(_survey(tmp_path), call, RecordingActions())
    assert call.waits == [5.0, 5.0]
    assert [s.kind for s in result.steps].count("no_input") == 2
    assert call.played.count("sorry-no-key") == 2
    assert result.end == "hung_up"
    # 6 prompts of 2 s and two 5 s timeouts: nothing else moves time (the flow never sleeps)
    assert call.clock.now() - start == 6 * PLAY_SECONDS + 2 * 5.0


def test_garbage_keys_are_invalid_input_never_an_answer(tmp_path: Path) -> None:
    # A line may send anything: a letter, nothing, two keys at once, a control or a snowman.
    call = ScriptedCall(["A", "\x00"])
    result = run(_survey(tmp_path), call, RecordingActions())
    assert [s.detail for s in result.steps if s.kind == "invalid"] == ["?", "?"]
    assert result.answers == {}
    flow = _flow_from(
        "f:\n  start: q\n  nodes:\n    q:\n      ask: p\n      digits: 3\n      retries: 3\n"
        "      otherwise: keep\n      give_up: bye\n    keep: {answer: {a: $input}}\n"
        "    bye: {hang_up: }\n", tmp_path, "f",
    )  # fmt: skip
    call = ScriptedCall(["12", "3", "4", "", "☃", "#", "*", "\u202e", "#", "9", "9", None])
    result = run(flow, call, RecordingActions())
    invalid = [s.detail for s in result.steps if s.kind == "invalid"]
    assert invalid == ["?34", "??#", "*?#"]
    assert result.answers == {"a": "99"}  # `otherwise` takes any keys, never a garbage one


def test_the_end_key_alone_is_no_answer(tmp_path: Path) -> None:
    call = ScriptedCall(["4", "1", "#", "#", "#"])
    result = run(_survey(tmp_path), call, RecordingActions())
    assert "age" not in result.answers
    assert [s.detail for s in result.steps if s.kind == "invalid"] == ["#", "#", "#"]


def test_a_prompt_that_cannot_play_is_a_step_and_the_flow_goes_on(tmp_path: Path) -> None:
    call = ScriptedCall(["2"], unplayable=frozenset({"welcome"}))
    result = run(_menu(tmp_path), call, RecordingActions())
    assert result.steps[0].detail == "welcome (could not play)"
    assert result.end == "hung_up"


def test_a_failing_action_is_a_step_and_the_caller_still_hears_the_end(tmp_path: Path) -> None:
    call = ScriptedCall(["9", "1"])
    actions = RecordingActions(fail=frozenset({"opt_out"}))
    result = run(_menu(tmp_path), call, actions)
    errors = [s.detail for s in result.steps if s.kind == "error"]
    assert errors == ["opt_out failed: RuntimeError: opt_out is broken"]
    assert result.end == "hung_up" and call.played[-1] == "you-are-removed"


def test_a_queue_answer_the_box_should_never_give_counts_as_no_agent(tmp_path: Path) -> None:
    flow = _flow_from("f:\n  start: q\n  nodes:\n    q: {queue: }\n", tmp_path, "f")
    call, actions = ScriptedCall([]), RecordingActions(queue_result="perhaps")
    result = run(flow, call, actions)
    assert result.end == "overflow" and call.hung_up == 1
    assert actions.done == [("queue", "")]
    assert result.steps[0].detail == "any agent: perhaps"


def test_the_queue_losing_the_caller_ends_as_caller_gone(tmp_path: Path) -> None:
    call, actions = ScriptedCall(["1"]), RecordingActions(queue_result="gone")
    result = run(_menu(tmp_path), call, actions)
    assert result.end == "caller_gone" and call.hung_up == 0


def test_a_line_error_ends_the_call_and_keeps_the_steps(tmp_path: Path) -> None:
    class BrokenLine(ScriptedCall):
        async def digit(self, timeout: float) -> str | None:
            raise OSError(5, "Input/output error")

    call = BrokenLine([])
    result = run(_menu(tmp_path), call, RecordingActions())
    assert result.end == "hung_up" and call.hung_up == 1
    assert result.steps[-1].kind == "error"
    assert "Input/output error" in result.steps[-1].detail
    assert [s.kind for s in result.steps] == ["play", "play", "error"]


def test_a_caller_who_never_stops_pressing_keys_is_ended_by_the_step_bound(tmp_path: Path) -> None:
    flow = _flow_from(
        "f:\n  start: menu\n  nodes:\n    menu:\n      ask: p\n      on: {'1': info}\n"
        "    info: {play: info, next: menu}\n", tmp_path, "f",
    )  # fmt: skip
    call = ScriptedCall(itertools.repeat("1"))
    result = run(flow, call, RecordingActions())
    assert result.end == "hung_up" and call.hung_up == 1
    assert len(result.steps) <= MAX_STEPS + 2
    assert result.steps[-2].kind == "limit"
