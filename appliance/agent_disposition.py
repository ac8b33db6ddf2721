"""What an agent's disposition does to the contact (SPEC A1, C4, C10, D7, #25): the campaign's
disposition (appliance/dispositions.py) turned into the strategy's decision, made inside the
transaction that keeps the disposition (store/agents.py `set_disposition`).

``close``, ``retry``, ``block`` and ``sms`` are decided by the campaign's strategy
(scheduler/strategy.py `next_action`) as if the call's outcome had that action: ``retry 2h`` is
the next planned attempt in 2 h (closed as Retries Completed when the campaign's attempts are
used up), ``block`` puts the number on the permanent block list and moves to the contact's next
number, closing the contact when it has none, ``sms`` jumps to the strategy's next SMS attempt.
``callback`` makes the contact due at the agent's date for its owner; ``dnc`` puts the number
on the campaign's DNC list and closes the contact as DNC Listed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from appliance import campaign_strategy, dispositions
from appliance.campaigns import CampaignSettings
from appliance.dispositions import DispositionAction, DispositionSpec
from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.errors import DialboxError
from appliance.scheduler.strategy import (
    Action,
    AttemptContext,
    OutcomeAction,
    Strategy,
    next_action,
)
from appliance.store.agents import (
    ContactChange,
    Decide,
    DisposedContact,
    Disposition,
    set_disposition,
)
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database

_STRATEGY_ACTION = {"close": Action.CLOSE, "retry": Action.RETRY, "block": Action.BLOCK,
                    "sms": Action.SMS}  # fmt: skip


class DispositionRefused(DialboxError):
    """The disposition cannot apply to this campaign as it is (the API's 422)."""


def dispose(
    db: Database,
    campaign: CampaignRow,
    attempt_id: int,
    code: str,
    *,
    agent: str,
    group: str | None,
    now: float,
    actor: str,
    callback_at: float | None = None,
    callback_for: str | None = None,
    note: str | None = None,
    dnc: bool = False,
) -> dict[str, Any]:
    """Set the disposition `code` of `campaign`'s list on the agent's ended call `attempt_id`
    and apply its action to the contact, in one transaction (store/agents.py
    `set_disposition`). DispositionRefused (words for the agent) when the code is not the
    campaign's, a date is missing, not wanted or past, or the campaign cannot do what the code
    says; ContactInFlight when the contact was dialed again (nothing written)."""
    settings = CampaignSettings.model_validate(campaign.settings)
    offered = dispositions.offered(settings.dispositions, str(campaign.type))
    spec = next((d for d in offered if d.code == code), None)
    if spec is None:
        listed = dispositions.find(settings.dispositions, code)
        if listed is not None:  # an inbound campaign's
            raise DispositionRefused(
                f"disposition {code!r} ({listed.action}) cannot end a call of inbound campaign"
                f" {campaign.name}: it never dials, so nothing retries or calls back (a callback"
                f" is a missed call's, in its callback_campaign); its codes are"
                f" {dispositions.codes_text(offered)}"
            )
        raise DispositionRefused(
            f"unknown disposition {code!r}: campaign {campaign.name}'s codes are"
            f" {dispositions.codes_text(offered)}"
        )
    if spec.needs_date and callback_at is None:
        raise DispositionRefused(
            f"disposition {spec.code!r} ({spec.label}) needs callback_at: the date and time to"
            " call back, ISO 8601 with an offset, e.g. 2026-11-24T10:00:00Z"
        )
    if not spec.needs_date and callback_at is not None:
        dated = [d.code for d in offered if d.needs_date]
        raise DispositionRefused(
            f"disposition {spec.code!r} ({spec.action}) takes no callback_at; leave it out, or"
            f" use a code that calls back at a date: {', '.join(dated) or 'none in this campaign'}"
        )
    if callback_at is not None and callback_at <= now:
        raise DispositionRefused("callback_at is in the past: give a time to come")
    how = callback_for or spec.callback_for or "self"
    if callback_at is not None and how == "group" and not group:
        raise DispositionRefused(f"agent {agent} has no group; use callback_for self or anyone")
    owner = {"self": agent, "group": f"@{group}" if group else None}.get(how)
    strategy = campaign_strategy.in_force(db, campaign).strategy
    check(spec, strategy, campaign.name)
    change = decider(
        spec, strategy, now=now, max_attempts=settings.max_attempts,
        max_attempts_per_number=settings.max_attempts_per_number, callback_at=callback_at,
        owner=owner,
    )  # fmt: skip
    return set_disposition(
        db,
        Disposition(attempt_id, spec.code, callback_at, owner if callback_at is not None else None,
                    dnc, note, change),
        now, actor, campaign_id=campaign.id, campaign=campaign.name,
    )  # fmt: skip


def has_sms(strategy: Strategy) -> bool:
    return any(spec.channel is Channel.SMS for spec in strategy.attempts)


def check(spec: DispositionSpec, strategy: Strategy, campaign: str) -> None:
    """A DispositionRefused when the campaign cannot do what the disposition says: an `sms`
    disposition in a campaign whose strategy sends no SMS."""
    if spec.parsed.kind == "sms" and not has_sms(strategy):
        raise DispositionRefused(
            f"disposition {spec.code!r} switches to SMS, but campaign {campaign!r}'s strategy has"
            " no SMS attempt: add one such as {channel: sms, phone: same} to its strategy"
            " (PUT /campaigns/{name}/strategy), or give the disposition another action"
        )


def decider(
    spec: DispositionSpec,
    strategy: Strategy,
    *,
    now: float,
    max_attempts: int,
    max_attempts_per_number: int,
    callback_at: float | None = None,
    owner: str | None = None,
) -> Decide:
    """The decision `set_disposition` makes with the contact it reads in its transaction."""
    act = spec.parsed
    why = f"disposition {spec.code}: {spec.action}"

    def decide(contact: DisposedContact) -> ContactChange:
        if act.kind == "callback":
            assert callback_at is not None, "a callback disposition needs its date"
            return ContactChange(
                ContactState.NOT_CONNECTED, Summary.NO_SUCCESS, callback_at,
                callback_at=callback_at, owner=owner, why=f"{why} at {callback_at}",
            )  # fmt: skip
        if act.kind == "dnc":
            return ContactChange(
                ContactState.DNC_LISTED, Summary.UNREACHABLE, None, dnc_list=True, why=why
            )
        decision = next_action(
            _forced(strategy, act),
            AttemptContext(
                step=contact.step,
                phone_index=contact.phone_index,
                channel=Channel.VOICE,  # an agent's call (an SMS is never handed to an agent)
                phones=contact.phones,
                attempts=contact.attempts,
                phone_attempts=contact.phone_attempts,
            ),
            Outcome.CONNECTED,
            now,
            max_attempts=max_attempts,
            max_attempts_per_number=max_attempts_per_number,
        )
        return ContactChange(
            decision.state, decision.summary, decision.next_at, decision.next_phone,
            decision.step, block_number=decision.block_number,
            why=f"{why} ({decision.why.partition(': ')[2] or decision.why})",
        )  # fmt: skip

    return decide


def _forced(strategy: Strategy, act: DispositionAction) -> Strategy:
    """The campaign's strategy with every outcome taking the disposition's action: its plan of
    attempts decides the rest (which attempt, which number, which channel)."""
    outcome_action = OutcomeAction(
        _STRATEGY_ACTION[act.kind],
        act.after or 0.0,
        act.state if act.kind == "close" else None,
    )
    return dataclasses.replace(
        strategy,
        on=dict.fromkeys(Outcome, outcome_action),
        steps_on={},
        named=frozenset(Outcome),
        default=None,
    )
