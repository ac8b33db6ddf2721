"""What the desk tells whoever listens (#25, SPEC A1, A6): the API's event streams subscribe
here, the desk says "something changed" on every agent or seat change, and supervisors' pop-up
messages go out through it to the agents they are for.

A subscriber's queue is bounded (`QUEUE_LIMIT`): a client that reads slowly or not at all never
grows memory. "Something changed" is coalesced (the listener reads the current state when it
writes, so one pending change says all of it); when messages overflow the queue it is emptied
and marked `overflowed`: the listener then sends a fresh snapshot, and an agent's stream the
messages it has not acknowledged, which the hub keeps (`Messages`).

The supervisor's login codes (`LoginCodes`) live here too: 6 digits for one agent, valid five
minutes, used once, in memory (a restart forgets them; the supervisor gives a new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

QUEUE_LIMIT = 64  # items a subscriber may have waiting before it is sent a fresh snapshot
MESSAGE_KEEP = 600.0  # seconds a message waits for its acknowledgement (a reconnect gets it)
MESSAGE_LIMIT = 1000  # messages kept at most, the oldest dropped first
CODE_SECONDS = 300.0  # a login code is valid five minutes
CODE_TRIES = 5  # wrong codes for one agent before its code is void (the guard limits addresses)


@dataclass(frozen=True, slots=True)
class Message:
    """A supervisor's pop-up message to one agent or to several."""

    id: int
    sender: str  # who sent it: the token's name or the local user
    text: str
    at: float
    to: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "text": self.text, "at": self.at,
                "to": list(self.to)}  # fmt: skip


class _Changed:
    """The queue item saying: the agents' state changed, read it again."""

    def __repr__(self) -> str:
        return "CHANGED"


CHANGED = _Changed()


@dataclass
class Batch:
    """What a subscriber is to send now."""

    changed: bool = False
    messages: list[Message] = field(default_factory=list)
    overflowed: bool = False  # items were dropped: send a fresh snapshot (and pending messages)
    closed: bool = False  # the desk stops: end the stream


class Subscription:
    """One listener (an open event stream): what happened since it last looked, bounded."""

    def __init__(self, agent: str | None, limit: int = QUEUE_LIMIT) -> None:
        self.agent = agent  # None: every change and every message (a supervisor)
        self.limit = limit
        self._items: deque[Message | _Changed] = deque()
        self._overflowed = False
        self._closed = False
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        """Items waiting (never more than `limit`)."""
        return len(self._items)

    def wants(self, message: Message) -> bool:
        return self.agent is None or self.agent in message.to

    def put(self, item: Message | _Changed) -> None:
        if item is CHANGED and self._items and self._items[-1] is CHANGED:
            return  # one pending change already says it
        if len(self._items) >= self.limit:
            self._items.clear()
            self._overflowed = True
        else:
            self._items.append(item)
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def next(self, timeout: float) -> Batch:
        """What there is to send, waiting up to `timeout` seconds for something (an empty batch
        then: time for a heartbeat)."""
        if not self._items and not self._overflowed and not self._closed:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, timeout))
        batch = Batch(overflowed=self._overflowed, closed=self._closed)
        while self._items:
            item = self._items.popleft()
            if isinstance(item, Message):
                batch.messages.append(item)
            else:
                batch.changed = True
        self._overflowed = False
        return batch


class Messages:
    """Pop-up messages of the last `MESSAGE_KEEP` seconds and who has acknowledged them."""

    def __init__(self, keep: float = MESSAGE_KEEP, limit: int = MESSAGE_LIMIT) -> None:
        self.keep = keep
        self.limit = limit
        self._next_id = 1
        self._kept: OrderedDict[int, Message] = OrderedDict()
        self._acked: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, sender: str, text: str, to: Iterable[str], now: float) -> Message:
        self._expire(now)
        message = Message(self._next_id, sender, text, now, tuple(to))
        self._next_id += 1
        self._kept[message.id] = message
        self._acked[message.id] = set()
        while len(self._kept) > self.limit:
            old, _ = self._kept.popitem(last=False)
            self._acked.pop(old, None)
        return message

    def get(self, message_id: int) -> Message | None:
        return self._kept.get(message_id)

    def pending(self, agent: str, now: float) -> list[Message]:
        """The messages to `agent` of the last `keep` seconds it has not acknowledged, oldest
        first."""
        self._expire(now)
        return [m for m in self._kept.values()
                if agent in m.to and agent not in self._acked.get(m.id, ())]  # fmt: skip

    def ack(self, agent: str, message_id: int, now: float) -> Message | None:
        """Note that `agent` has read the message; None when there is no such message for it
        (unknown, too old, or to others)."""
        self._expire(now)
        message = self._kept.get(message_id)
        if message is None or agent not in message.to:
            return None
        self._acked[message_id].add(agent)
        return message

    def _expire(self, now: float) -> None:
        while self._kept:
            first = next(iter(self._kept.values()))
            if now - first.at <= self.keep:
                break
            self._kept.popitem(last=False)
            self._acked.pop(first.id, None)


@dataclass
class _Code:
    code: str
    expires_at: float
    issuer: str  # who gave it (the audit entry of the session it opens names them)
    wrong: int = 0


class LoginCodes:
    """Short-lived codes a supervisor gives an agent to open a desk session with: 6 digits,
    `CODE_SECONDS` valid, used once; one per agent (a new one replaces the last). After
    `CODE_TRIES` wrong codes for an agent its code is void."""

    def __init__(self, seconds: float = CODE_SECONDS, tries: int = CODE_TRIES) -> None:
        self.seconds = seconds
        self.tries = tries
        self._codes: dict[str, _Code] = {}

    def issue(self, agent: str, issuer: str, now: float) -> tuple[str, float]:
        """A new code for `agent` and when it expires."""
        self._expire(now)
        code = f"{secrets.randbelow(10**6):06d}"
        self._codes[agent] = _Code(code, now + self.seconds, issuer)
        return code, now + self.seconds

    def redeem(self, agent: str, code: str, now: float) -> str | None:
        """Who issued `code` if it is the agent's valid code (which is then used up); None when
        it is not (wrong, expired, used, or none was issued)."""
        self._expire(now)
        held = self._codes.get(agent)
        if held is None:
            return None
        if hmac.compare_digest(held.code.encode(), code.encode()):
            del self._codes[agent]
            return held.issuer
        held.wrong += 1
        if held.wrong >= self.tries:
            del self._codes[agent]
        return None

    def __len__(self) -> int:
        return len(self._codes)

    def _expire(self, now: float) -> None:
        for agent in [a for a, c in self._codes.items() if now >= c.expires_at]:
            del self._codes[agent]


class Notices:
    """The hub: subscribers, the messages kept for them, the login codes."""

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()
        self.messages = Messages()
        self.codes = LoginCodes()
        self.closed = False
        self._event_ids = 0

    def subscribe(self, agent: str | None, limit: int = QUEUE_LIMIT) -> Subscription:
        """A listener for one agent's changes and messages (None: every agent's: a supervisor)."""
        subscription = Subscription(agent, limit)
        if self.closed:
            subscription.close()
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)

    def changed(self) -> None:
        """An agent or a seat changed (AgentDesk._notify)."""
        for subscription in self.subscribers:
            subscription.put(CHANGED)

    def send(self, sender: str, text: str, to: Iterable[str], now: float) -> Message:
        """A message to the agents `to`, at once on their streams and on every supervisor's."""
        message = self.messages.add(sender, text, to, now)
        for subscription in self.subscribers:
            if subscription.wants(message):
                subscription.put(message)
        return message

    def event_id(self) -> int:
        """The next event id (`id:` of a server-sent event), increasing in this process."""
        self._event_ids += 1
        return self._event_ids

    def close(self) -> None:
        """The desk stops: every stream ends (so none holds the daemon's shutdown)."""
        self.closed = True
        for subscription in self.subscribers:
            subscription.close()
