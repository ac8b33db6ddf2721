"""The docs and the strategy parser agree (#22): every strategy the docs show (README.md,
docs/*.md, the parser's own docstring) parses, reads back the same through `to_dict`, and every
inline action mapping (`{action: sms, after: 5m}`) is an action."""

from __future__ import annotations

import pytest

from appliance.scheduler.strategy import parse_action, parse_strategy, to_dict
from tests.strategy_examples import Example, as_json, inline_actions, strategies

STRATEGIES = strategies()
ACTIONS = inline_actions()


def test_the_docs_show_strategies_and_inline_actions() -> None:
    # The walk finds what is there: docs/scheduler.md's YAML, docs/api.md's JSON body, the
    # parser's docstring; docs/scheduler.md's inline mapping form.
    assert {e.where.split(":")[0] for e in STRATEGIES} >= {
        "scheduler.md",
        "api.md",
        "appliance/scheduler/strategy.py",
    }, STRATEGIES
    assert any(e.where.startswith("scheduler.md") for e in ACTIONS), ACTIONS


@pytest.mark.parametrize("example", STRATEGIES, ids=lambda e: e.where)
def test_every_strategy_in_the_docs_parses_and_reads_back(example: Example) -> None:
    strategy = parse_strategy(example.data, example.where)
    again = parse_strategy(to_dict(strategy), example.where)
    assert again == strategy
    # What a YAML file says, the API's JSON body says too.
    assert parse_strategy(as_json(example.data), example.where) == strategy


@pytest.mark.parametrize("example", ACTIONS, ids=lambda e: e.where)
def test_every_inline_action_in_the_docs_is_an_action(example: Example) -> None:
    parse_action(example.data, example.where)
