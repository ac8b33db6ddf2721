"""The inbound resources' bodies (SPEC C14, #23): a missed call, its callback, and the request
to call one back."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema

from appliance.api.models import Body, Document, Instant, omittable
from appliance.names import LOOKUP_PATTERN, MAX_LENGTH, PATTERN

REASONS_TEXT = (
    "hung_up_ringing: the caller hung up while it rang; hung_up_in_queue: while waiting for an"
    " agent; overflow: the queue's wait ran out; closed: outside the campaign's windows"
)
STATUS_TEXT = "open, callback_made (a callback contact was made) or dismissed"
OWNER = f"^@?{PATTERN.removeprefix('^')}"


class MissedCallback(Document):
    """the callback contact a missed call was called back with"""

    contact_id: int
    campaign: str | None = None
    state: str | None = Field(None, description="the callback contact's state now")
    due_at: Instant | None = Field(None, description="when it is due (its callback time)")
    owner: str | None = Field(None, description="the agent, '@group', or null for anyone")
    attempts: int | None = Field(None, description="calls made to it so far")
    already: bool | None = omittable(
        description="in the answer to POST /missed-calls/{id}/callback: the number already had"
        " an open callback contact in that campaign, and the missed call was linked to it"
    )


class Matched(Document):
    """a known contact with the caller's number"""

    contact_id: int
    campaign: str
    campaign_type: str
    external_id: str | None = None
    state: str
    fields: dict[str, str] = Field(description="its business fields that are set (bp1..bp12)")
    last_call_at: Instant | None = Field(
        None, description="the last call between the box and it at that number"
    )


class MissedCall(Document):
    """a call an inbound campaign did not serve; repeats of an open one add to it"""

    id: int
    campaign: str = Field(description="the inbound campaign")
    line: str | None = None
    number: str | None = Field(None, description="E.164; null when withheld or not a number")
    caller_id: str | None = Field(None, description="the caller ID as the line gave it")
    withheld: bool = Field(description="no number to call back")
    contact_id: int | None = Field(
        None, description="the caller's known contact: theirs in the campaign, else the one"
        " last called at that number",
    )  # fmt: skip
    attempt_id: int | None = Field(None, description="the answered call (queue, overflow)")
    reason: Annotated[
        str,
        WithJsonSchema(
            {"enum": ["hung_up_ringing", "hung_up_in_queue", "overflow", "closed"],
             "description": REASONS_TEXT}
        ),
    ]  # fmt: skip
    at: Instant = Field(description="the first missed call")
    last_at: Instant = Field(description="the latest missed call")
    calls: int = Field(description="missed calls of this number while it was open")
    waited_seconds: float | None = None
    status: Annotated[
        str,
        WithJsonSchema(
            {"enum": ["open", "callback_made", "dismissed"], "description": STATUS_TEXT}
        ),
    ]
    handled_at: Instant | None = None
    handled_by: str | None = None
    callback: MissedCallback | None = None
    matched: list[Matched] | None = omittable(
        description="one missed call: the known contacts with the number (the screen pop)"
    )


class CallbackRequest(Body):
    """how to call a missed call back; both may be left out"""

    campaign: str | None = omittable(
        {"pattern": LOOKUP_PATTERN, "minLength": 1, "maxLength": MAX_LENGTH},
        description="the agent or automated campaign that calls back; default: the inbound"
        " campaign's callback_campaign",
    )
    owner: str | None = omittable(
        {"pattern": OWNER, "minLength": 1, "maxLength": MAX_LENGTH + 1},
        description="the agent who takes it ('anna') or a group ('@sales'); default: anyone",
    )
