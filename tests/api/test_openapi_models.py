"""The OpenAPI document generated from the pydantic body models (appliance/api/models/) says to a
client what the hand-written schemas said (tests/api/openapi_before_models.json, the document as
it was before the models): the same paths, methods, parameters, bodies and responses, with the
same required fields, property names, types and constraints. Schemas are compared resolved
($ref followed) and written one way (no titles, type lists sorted, anyOf of bare types as a type
list), so only meaning counts; what is meant to differ is listed in INTENDED with its reason."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path
from typing import Any

from appliance.api.server import openapi_document

BEFORE = Path(__file__).with_name("openapi_before_models.json")

# JSON pointers (into the normalized document) as fnmatch patterns -> why they differ on purpose
_INSTANT = "an instant is ISO 8601 text, no longer epoch seconds (#22)"
_STRATEGY = "a strategy's action may be a mapping, phone 'same' and wait are named (#22)"
_INBOUND = "inbound campaigns, their settings, missed calls, flows' steps and answers (#23)"
_INBOUND_SETTINGS = ("answer_lines", "callback_campaign", "closed_flow", "inbound_first",
                     "overflow", "overflow_message", "overflow_node", "queue_max_wait",
                     "announce_position")  # fmt: skip
INTENDED: dict[str, str] = {
    **{f"*/properties/{key}/*": _INSTANT
       for key in ("created_at", "updated_at", "since", "wrap_until", "time")},
    "/paths/~1audit/get/responses/200/*/items/*": "an audit entry is described, `at` an instant (#22)",
    "/paths/~1agents~1{name}~1list/get/responses/200/*/items/properties": _INSTANT,
    "*/properties/call/description": "says which of the call's fields are instants (#22)",
    "*/properties/preview/description": "says which of the preview's fields are instants (#22)",
    "/paths/~1campaigns~1{name}~1strategy/*": _STRATEGY,
    "/paths/~1campaigns~1{name}~1scheduled-actions*": "new since: scheduled actions (#22, C2)",
    "/paths/~1campaigns~1{name}~1contacts~1upload/post/*": "#22: how the file is read, map= and dry_run= (query or form), a dry run's answer",
    "/paths/~1campaigns~1{name}~1contacts/post/responses/*/properties/report/properties/columns*": "#22: the report's columns",
    "/paths/~1campaigns~1{name}~1contacts/post/responses/*/properties/report/properties/layout/description*": "#22: the report's columns",
    "/paths/~1campaigns~1{name}~1contacts/get/description*": "paging and search explained (#22)",
    "/paths/~1campaigns~1{name}~1contacts/get/parameters*": "q: the console's contact search (#22)",
    "/paths/~1campaigns~1{name}~1contacts/get/responses/200/content/application~1json/schema/properties/labels*": "the campaign's field names for the console's columns (#22)",
    "/paths/~1campaigns~1{name}~1strategy~1check*": "new: the console's strategy editor (#22)",
    "/paths/~1reports~1*": "new since: the reports per agent, line and campaign (#22)",
    "/paths/~1setup/*/properties/calling_hours/description*": "says which hours the custom profile uses (#22)",
    "/paths/~1setup/*/properties/custom_calling_hours*": "the custom profile's hours, read and set from the console (#22)",
    "/paths/~1status/get/responses/200/*/properties/dials_*/description*": "dials count calls only, not SMS (#22)",
    "/paths/~1status/get/responses/200/*/properties/outcomes_last_hour*": "calls and SMS counted apart (#22)",
    **{f"/paths/~1campaigns*/properties/settings/properties/{key}": _INBOUND
       for key in _INBOUND_SETTINGS},
    "/paths/~1campaigns*/properties/type/enum": _INBOUND,
    **{f"/paths/~1campaigns~1{{name}}~1{action}/post/description":
       "start, stop, pause and resume say what they do to an inbound campaign (#23)"
       for action in ("start", "stop", "pause", "resume")},
    "/paths/~1missed-calls*": _INBOUND,
    "/paths/~1boxes*": "new: the boxes on one store, their drain and resume (#27)",
    **{f"/paths/~1results/get/responses/200/*/items/properties/{key}": _INBOUND
       for key in ("direction", "steps", "answers")},
    "*/properties/settings/properties/flow*": "new: the call flow a campaign runs (#23)",
    "/paths/~1status/get/responses/200/*/properties/inbound": "the inbound campaigns' queues (#23)",
    "/paths/~1status/get/description": "says what the inbound section holds (#23)",
    "/paths/~1campaigns~1{name}~1why/get/description": "says what why tells of an inbound campaign (#23)",
    **{f"/paths/~1campaigns*/properties/settings/properties/{key}": "the audio path: recording, answering-machine detection (#24)"
       for key in ("record", "consent_prompt", "amd", "machine_action", "machine_message")},
    "/paths/~1campaigns*/properties/settings/properties/external_list": "external lists: the contacts in the customer's database (#26)",
    "/paths/~1prompts*": "new: prompts from files and text, played on lines with audio (#24)",
    "/paths/~1recordings*": "call recordings: listed, streamed, deleted (#24)",
    "/paths/~1lines*/properties/audio*": "a line's audio path (#24)",
    "/paths/~1agents~1{name}~1monitor": "new: a supervisor listens in, whispers, barges in (#25)",
    "/paths/~1lines*/properties/conference*": "what a supervisor's seat can do on a line's calls (#25)",
    "/paths/*/responses/default/*": "the HTTP parser's plain-text 400 is documented (schemathesis found it undocumented)",
    **{f"/paths/~1results/get/responses/200/*/items/properties/recording_{key}": "the call's recording in the results (#24)"
       for key in ("id", "status", "sha256")},
    "/paths/~1status/get/responses/200/*/properties/recordings": "recordings of the last 24 hours, alerts (#24)",
    **{f"/paths/~1campaigns*/properties/settings/properties/{key}": "the agent's desk: dispositions as configuration and the script text (#25)"
       for key in ("dispositions", "script")},
    "/paths/~1agents~1{name}~1disposition/post/*": "a disposition is a code of the campaign's list, with a note; its action applied to the contact (#25)",
    "/paths/~1campaigns~1{name}~1desk*": "new: the campaign's script and dispositions for the agent's desktop (#25)",
    **{f"/paths/~1{path}/get/x-dialbox-scope": "a supervisor's token reads it too (scope floor: crm or supervisor, #25)"
       for path in ("agents", "status", "lines")},
    "/paths/~1campaigns~1{name}~1why/get/x-dialbox-scope": "the supervisor's page shows why a campaign does not dial (scope floor, #25)",
    "/paths/~1agents~1{name}~1events": "new: the agent desktop's event stream (#25)",
    "/paths/~1supervisor~1events": "new: the supervisor's event stream (#25)",
    "/paths/~1agents~1messages": "new: a pop-up message to every logged-in agent (#25)",
    "/paths/~1agents~1{name}~1messages*": "new: pop-up messages to an agent and their acknowledgement (#25)",
    "/paths/~1agents~1{name}~1login-code": "new: a supervisor's login code for an agent's desk (#25)",
    "/paths/~1desk~1session": "new: a desk session opened with a login code (#25)",
    "/paths/~1tokens/post/requestBody/content/application~1json/schema/properties/scope/enum": "the supervisor scope (#25)",
    "*/properties/settings/properties/email_*": "the e-mail step's address field and template (#26)",
    "*/properties/state/enum": "the contact state E-mail sent (#26)",
    "/paths/~1email~1*": "new: the e-mail channel's unsubscribe link and bounces (#26)",
    "/paths/~1status/get/responses/200/*/properties/figures_*": "how old the scanned figures are (#28)",
    "/paths/~1campaigns~1{name}~1why/get/responses/200/*/properties*": "how old why's counts are (#28)",
    **{f"/paths/~1results/get/responses/200/*/items/properties/{key}": "an e-mail attempt's address and Message-ID (#26)"
       for key in ("email_address", "message_id")},
}  # fmt: skip


def _resolve(node: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [_resolve(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return {"$ref": name}
        rest = {k: v for k, v in node.items() if k != "$ref"}
        target = _resolve(components[name], components, (*seen, name))
        return _normal({**target, **_resolve(rest, components, seen)})
    return _normal({key: _resolve(value, components, seen) for key, value in node.items()})


def _normal(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if isinstance(schema.get("title"), str):
        del schema["title"]
    members = schema.get("anyOf")
    if isinstance(members, list) and all(
        isinstance(m, dict) and set(m) == {"type"} for m in members
    ):
        del schema["anyOf"]
        schema["type"] = [
            t for m in members for t in (m["type"] if isinstance(m["type"], list) else [m["type"]])
        ]
    kind = schema.get("type")
    if isinstance(kind, list):
        schema["type"] = sorted(set(kind)) if len(set(kind)) > 1 else kind[0]
    if "enum" in schema and isinstance(schema.get("type"), str):
        del schema["type"]
    if isinstance(schema.get("required"), list) and all(
        isinstance(r, str) for r in schema["required"]
    ):
        schema["required"] = sorted(schema["required"])
    if schema.get("default", 0) is None or schema.get("additionalProperties") is True:
        schema = {k: v for k, v in schema.items()
                  if not (k == "default" and v is None) and not (k == "additionalProperties" and v is True)}  # fmt: skip
    properties = schema.get("properties")
    if isinstance(properties, dict) and all(isinstance(p, dict) for p in properties.values()):
        # a property of any value says no more than a property not named
        schema["properties"] = {k: v for k, v in properties.items() if v != {}}
        if not schema["properties"]:
            del schema["properties"]
    return schema


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """The paths of `document` with every schema resolved and written one way."""
    components = document["components"]["schemas"]
    paths = _resolve(document["paths"], components)
    for item in paths.values():
        for operation in item.values():
            if "parameters" in operation:
                operation["parameters"] = sorted(
                    operation["parameters"], key=lambda p: (p["in"], p["name"])
                )
    return {"paths": paths, "info": document["info"], "security": document["security"]}


def differences(a: Any, b: Any, at: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            here = f"{at}/{key.replace('~', '~0').replace('/', '~1')}"
            if key not in a or key not in b:
                found.append(here)
            else:
                found += differences(a[key], b[key], here)
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{at}/{i}")
        ]
    return [] if a == b else [at]


def test_the_generated_document_means_what_the_hand_written_one_did() -> None:
    before = normalized(json.loads(BEFORE.read_text()))
    now = normalized(json.loads(json.dumps(openapi_document())))
    found = differences(before, now)
    unexplained = [d for d in found if not any(fnmatch(d, p) for p in INTENDED)]
    assert not unexplained, "\n".join(unexplained[:40])
    # Every intended difference is still there (else it is stale: remove it).
    assert all(any(fnmatch(d, p) for d in found) for p in INTENDED), found


def test_the_comparison_sees_a_change() -> None:
    before = normalized(json.loads(BEFORE.read_text()))
    changed = json.loads(BEFORE.read_text())
    changed["components"]["schemas"]["TestCall"]["required"] = []
    assert differences(before, normalized(changed))


def test_the_record_feed_takes_every_contact_column() -> None:
    from appliance.api.models.contacts import ContactRecord
    from appliance.config.models import CONTACT_COLUMNS

    assert tuple(ContactRecord.model_fields) == CONTACT_COLUMNS
