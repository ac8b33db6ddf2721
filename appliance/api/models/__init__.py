"""Request and response bodies of the API as pydantic models, one module per resource; their
JSON schemas (OpenAPI 3.1 is JSON Schema 2020-12) are what /openapi.json publishes and what
requests are checked against (appliance/api/spec.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema

from appliance import names

REF_TEMPLATE = "#/components/schemas/{model}"

# An instant in a response: ISO 8601 in UTC with a Z, to the millisecond (appliance/api/times.py).
Instant = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "examples": ["2027-01-15T08:00:00.250Z"],
            "description": "ISO 8601, UTC",
        }
    ),
]


class Body(BaseModel):
    """A request body: a field it does not name is refused (additionalProperties: false)."""

    model_config = ConfigDict(extra="forbid")


class Document(BaseModel):
    """A response body (documented; handlers answer with plain JSON). It may carry more fields
    than it names, as a client should expect of a later version."""

    model_config = ConfigDict(extra="allow")


def name_rule(kind: str) -> WithJsonSchema:
    """`Annotated[str, name_rule(kind)]`: a string that names a new `kind`; the name rule is its
    schema's pattern, whose breach the API words as the rule (spec._message)."""
    return WithJsonSchema(names.schema(kind))


def component(name: str) -> dict[str, Any]:
    """`WithJsonSchema(component(name))`: the schema is the document's component `name`, one not
    generated from a model here. (pydantic would look a `$ref` up among its own definitions.)"""
    return {"x-component": name}


def _not_null(schema: dict[str, Any]) -> None:
    """An optional field's schema without its null: it may be left out, not sent as null."""
    schema.pop("default", None)
    members = [m for m in schema.pop("anyOf", []) if m != {"type": "null"}]
    if len(members) == 1:
        schema.update(members[0])
    elif members:
        schema["anyOf"] = members


def omittable(extra: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A field a body may leave out (None here), but not give as null; `extra`: more keywords
    for its schema (a format the schema checks)."""

    def schema(field: dict[str, Any]) -> None:
        _not_null(field)
        field.update(extra or {})

    return Field(None, json_schema_extra=schema, **kwargs)


def _tidy(node: Any) -> Any:
    """The schema as the API has always written it: no generated titles, `type: [t, "null"]`
    rather than anyOf of bare types, an enum without its redundant type, no `default: null`."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tidy(value) for key, value in node.items()}
    if isinstance(node.get("title"), str):
        del node["title"]
    if "x-component" in node:
        name = node.pop("x-component")
        return {"$ref": REF_TEMPLATE.format(model=name), **node}
    members = node.get("anyOf")
    if (
        isinstance(members, list)
        and len(members) == 2
        and members[1] == {"type": "null"}
        and isinstance(members[0], dict)
        and isinstance(members[0].get("type"), str)
        and not {"enum", "const", "anyOf", "oneOf", "allOf", "$ref"} & set(members[0])
        and not set(members[0]) - {"type"} & set(node)
    ):
        # Keywords other than type apply to their own type only, so null passes them anyway.
        del node["anyOf"]
        node.update({**members[0], "type": [members[0]["type"], "null"]})
        members = None
    if isinstance(members, list) and all(
        isinstance(m, dict) and set(m) == {"type"} for m in members
    ):
        kinds: list[str] = []
        for member in members:
            kind = member["type"]
            kinds += kind if isinstance(kind, list) else [kind]
        del node["anyOf"]
        node["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in node and isinstance(node.get("type"), str):
        del node["type"]
    if "default" in node and node["default"] is None:  # None: not given; null says the type
        del node["default"]
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    return node


class ApiSchema(GenerateJsonSchema):
    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> dict[str, Any]:
        tidied: dict[str, Any] = _tidy(super().generate(schema, mode))
        return tidied


def schema_of(kind: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The schema of a model or another type (`list[Line]`, `dict[str, Any]`) and the schemas it
    refers to (components, by model name)."""
    schema = TypeAdapter(kind).json_schema(ref_template=REF_TEMPLATE, schema_generator=ApiSchema)
    return schema, schema.pop("$defs", {})
