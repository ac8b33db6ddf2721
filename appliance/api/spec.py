"""Operations declared once — route, scope, parameters, body and responses — from which come both
the aiohttp routes and the OpenAPI 3.1 document at /openapi.json; requests are validated against
the same schemas (jsonschema, Draft 2020-12, which is what OpenAPI 3.1 schemas are), so the
document cannot drift from the code. Bodies are pydantic models (appliance/api/models/), whose
generated schemas are the document's; a handler receives its body as that model. (A body or
response may still be given as a schema literal; the handler then gets the parsed JSON.)"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeGuard

import aiohttp
import aiohttp.http_exceptions
import jsonschema
import pydantic
from aiohttp import web
from typing_extensions import TypeVar

from appliance import names
from appliance.api.auth import Caller, identify, require
from appliance.api.limits import (
    MAX_JSON_BODY,
    check_param,
    check_raw_utf8,
    parse_json,
    pointer,
    where,
)
from appliance.api.models import schema_of
from appliance.api.models.problems import Problem as ProblemDocument
from appliance.api.problems import PROBLEM, Problem, problem_response

# aiohttp's HTTP parser answers a request it cannot read (a line or header too long) itself.
PLAIN_ERROR = {"schema": {"type": "string"}}

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024  # a contact file of about half a million rows (the uploads)


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" | "query"
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


B = TypeVar("B", default=Any)  # a handler that says no type gets Any


@dataclass
class Call(Generic[B]):
    """One validated request, as a handler sees it."""

    request: web.Request
    caller: Caller
    path: dict[str, Any]
    query: dict[str, Any]
    # The operation's body model; or parsed JSON (a schema literal), bytes (a file upload), None
    body: B
    # An upload's multipart text fields other than `file` (e.g. map=), by name, in order
    form: dict[str, list[str]] = field(default_factory=dict)


Handler = Callable[[Call[Any]], Awaitable[web.StreamResponse]]
# A schema literal, a model, or another type pydantic describes (`list[Line]`)
Schema = dict[str, Any] | type[pydantic.BaseModel] | Any
# (description, schema) or (description, schema, media type) of one response status; or
# (description, JSON schema, {other media type: its schema}) for a body JSON or else (a report
# as JSON or as CSV)
Response = (
    tuple[str, Schema | None]
    | tuple[str, Schema | None, str]
    | tuple[str, Schema | None, tuple[str, ...]]
    | tuple[str, Schema | None, dict[str, Schema]]
)


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    scope: str | None  # None: no authentication (health, metrics, the document itself)
    params: list[Param] = field(default_factory=list)
    body: dict[str, Any] | None = None  # JSON schema of a JSON body
    body_model: type[pydantic.BaseModel] | None = None  # what the handler gets it as
    upload: bool = False  # the body is a file (text/csv or multipart/form-data field `file`)
    form: dict[str, Any] = field(default_factory=dict)  # an upload's other multipart fields
    responses: dict[int, Response] = field(default_factory=dict)
    description: str = ""
    max_body: int = MAX_JSON_BODY  # bytes of the body; an upload takes MAX_BODY
    # A body of several kinds the handler reads itself (`read_body`): media type -> schema,
    # documented as given; e.g. a prompt as audio, as a multipart file or as JSON text
    media: dict[str, Any] | None = None


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next": {
                "type": ["integer", "null"],
                "description": "the cursor for the next page; null when there is none now",
            },
        },
    }


class Api:
    """The registry of operations and the component schemas they refer to."""

    def __init__(self, title: str, version: str) -> None:
        self.title = title
        self.version = version
        self.operations: list[Operation] = []
        self.schemas: dict[str, dict[str, Any]] = {}
        self.model(ProblemDocument)
        self._validators: dict[int, jsonschema.protocols.Validator] = {}

    def schema(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.schemas[name] = schema
        return ref(name)

    def model(self, model: type[pydantic.BaseModel]) -> dict[str, Any]:
        """A reference to the model's schema, which joins the components with those it uses."""
        schema, parts = schema_of(model)
        self._components(parts)
        self._components({model.__name__: schema})
        return ref(model.__name__)

    def _components(self, parts: dict[str, dict[str, Any]]) -> None:
        for name, part in parts.items():
            if self.schemas.setdefault(name, part) != part:  # two models of one name
                raise ValueError(f"two different schemas named {name!r} in the API's components")

    def _schema(self, schema: Schema) -> dict[str, Any]:
        """A schema literal as it is; a model as a reference to its component; another type
        (`list[Line]`, `dict[str, Any]`) as its schema, the models in it as references."""
        if isinstance(schema, dict):
            return schema
        if _is_model(schema):
            return self.model(schema)
        inline, parts = schema_of(schema)
        self._components(parts)
        return inline

    def op(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        scope: str | None,
        responses: dict[int, Response],
        params: list[Param] | None = None,
        body: Schema | None = None,
        upload: bool = False,
        form: dict[str, Any] | None = None,
        description: str = "",
        max_body: int | None = None,
        media: dict[str, Schema] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            path_params = [
                Param(part[1:-1], "path", _path_schema(path, part[1:-1]), True)
                for part in path.split("/")
                if part.startswith("{") and part.endswith("}")
            ]
            for p in params or []:
                if p.schema.get("type") == "integer":  # what SQLite can hold
                    p.schema.setdefault("maximum", 2**63 - 1)
            given = {p.name for p in params or []}
            schemas = {
                status: (spec[0], None if spec[1] is None else self._schema(spec[1]),
                         *(_alternatives(self, spec[2:])))
                for status, spec in responses.items()
            }  # fmt: skip
            self.operations.append(
                Operation(
                    method.upper(),
                    path,
                    handler,
                    handler.__name__.strip("_"),
                    summary,
                    tag,
                    scope,
                    [p for p in path_params if p.name not in given] + list(params or []),
                    None if body is None else self._schema(body),
                    body if _is_model(body) else None,
                    upload,
                    dict(form or {}),
                    schemas,
                    description,
                    max_body or (MAX_BODY if upload else MAX_JSON_BODY),
                    None
                    if media is None
                    else {kind: self._schema(schema) for kind, schema in media.items()},
                )
            )
            return handler

        return register

    # ------------------------------------------------------------------ the document
    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            item: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "tags": [op.tag],
                "responses": {},
            }
            if op.description:
                item["description"] = op.description
            if op.scope is None:
                item["security"] = []
            else:
                item["x-dialbox-scope"] = op.scope
            if op.params:
                item["parameters"] = [
                    {
                        "name": p.name,
                        "in": p.where,
                        "required": p.required or p.where == "path",
                        "schema": p.schema,
                        **({"description": p.description} if p.description else {}),
                    }
                    for p in op.params
                ]
            if op.body is not None:
                item["requestBody"] = {
                    "required": True,
                    "description": f"JSON (UTF-8), at most {_size(op.max_body)} and nested at "
                    "most 32 deep; strings without NUL or lone surrogates, integers within 64 bits",
                    "content": {"application/json": {"schema": op.body}},
                }
            elif op.media is not None:
                item["requestBody"] = {
                    "required": True,
                    "description": f"at most {_size(op.max_body)}",
                    "content": {kind: {"schema": schema} for kind, schema in op.media.items()},
                }
            elif op.upload:
                item["requestBody"] = {
                    "required": True,
                    "description": f"the file, at most {_size(op.max_body)}",
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    **op.form,
                                },
                            }
                        },
                    },
                }
            for status, spec in sorted(op.responses.items()):
                text, schema = spec[0], spec[1]
                media = spec[2] if len(spec) == 3 else "application/json"
                response: dict[str, Any] = {"description": text}
                if isinstance(media, dict):
                    response["content"] = {
                        "application/json": {"schema": schema},
                        **{kind: {"schema": other} for kind, other in media.items()},
                    }
                elif schema is not None:
                    kinds = (media,) if isinstance(media, str) else media
                    response["content"] = {kind: {"schema": schema} for kind in kinds}
                item["responses"][str(status)] = response
            item["responses"]["default"] = {
                "description": "an error, with what went wrong and what to do about it; a "
                "request that aiohttp's HTTP parser refuses before the API runs (a request line "
                "or a header over 8,190 bytes) gets its 400 as plain text",
                "content": {PROBLEM: {"schema": ref("Problem")}, "text/plain": PLAIN_ERROR},
            }
            paths.setdefault(op.path, {})[op.method.lower()] = item
        return {
            "openapi": "3.1.0",
            "info": {
                "title": self.title,
                "version": self.version,
                "description": (
                    "The dialbox REST API: campaigns, contacts, results, DNC, lines, agents, "
                    "reports. On TCP every operation but /healthz, /metrics and this document "
                    "needs 'Authorization: Bearer <token>' (`dialbox token create`); on the "
                    "box's Unix socket, file permissions (group dialbox) decide."
                ),
            },
            "servers": [{"url": "/"}],
            "paths": paths,
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        }

    # ------------------------------------------------------------------ serving
    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, self._wrap(op))

    def _validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        key = id(schema)
        found = self._validators.get(key)
        if found is None:
            root = {**schema, "components": {"schemas": self.schemas}}
            found = jsonschema.Draft202012Validator(
                root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            self._validators[key] = found
        return found

    def _check(self, schema: dict[str, Any], value: Any, root: str) -> None:
        errors = sorted(
            (_specific(e) for e in self._validator(schema).iter_errors(value)),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
        if errors:
            problems = [
                {
                    "where": where(root, list(e.absolute_path)),
                    **({"pointer": pointer(list(e.absolute_path))} if root == "body" else {}),
                    "message": _message(e),
                }
                for e in errors[:20]
            ]
            detail = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:3])
            raise Problem(422, f"the request does not match the API: {detail}", errors=problems)

    def _wrap(self, op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        from appliance.api.context import SERVICES

        async def handle(request: web.Request) -> web.StreamResponse:
            services = request.app[SERVICES]
            if op.scope is None:
                caller = Caller("anonymous", "none", False)
            else:
                caller = identify(request, services.db, services.clock.now())
                require(caller, op.scope)
            _check_raw_request(request, op)
            path: dict[str, Any] = {}
            query: dict[str, Any] = {}
            for p in op.params:
                if p.where == "query" and p.schema.get("type") == "array":  # ?map=a&map=b
                    items = Param(p.name, p.where, p.schema.get("items", {}))
                    values = [_convert(v, items) for v in request.query.getall(p.name, [])]
                    if values:
                        self._check(p.schema, values, p.name)
                        query[p.name] = values
                    elif p.required:
                        raise Problem(422, f"the query parameter {p.name!r} is required")
                    continue
                raw = (
                    request.match_info.get(p.name)
                    if p.where == "path"
                    else request.query.get(p.name)
                )
                if raw is None:
                    if p.required:
                        raise Problem(422, f"the query parameter {p.name!r} is required")
                    continue
                value = _convert(raw, p)
                if p.where == "path" and isinstance(value, str):
                    try:
                        self._check(p.schema, value, p.name)
                    except Problem as exc:  # e.g. /campaigns/%2e%2e: nothing can be there
                        raise Problem(404, f"there is no {request.path}: {exc.detail}") from None
                else:
                    self._check(p.schema, value, p.name)
                (path if p.where == "path" else query)[p.name] = value
            body: Any = None
            form: dict[str, list[str]] = {}
            if op.body is not None:
                body = await _json_body(request, op.max_body)
                self._check(op.body, body, "body")
                if op.body_model is not None:
                    body = _typed(op.body_model, body)
            elif op.upload:
                body, form = await _file_body(request, op.max_body)
            return await op.handler(Call(request, caller, path, query, body, form))

        handle.__name__ = op.operation_id
        return handle


def _alternatives(api: Api, rest: tuple[Any, ...]) -> tuple[Any, ...]:
    """A response's media types as given; a dict of other media types with their schemas."""
    if rest and isinstance(rest[0], dict):
        return ({kind: api._schema(schema) for kind, schema in rest[0].items()},)
    return rest


def _is_model(kind: Any) -> TypeGuard[type[pydantic.BaseModel]]:
    return isinstance(kind, type) and issubclass(kind, pydantic.BaseModel)


def _typed(model: type[pydantic.BaseModel], body: Any) -> pydantic.BaseModel:
    """The body, checked against the model's own schema already, as the model."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:  # a check the schema cannot say; named like its
        problems = [
            {
                "where": where("body", list(e["loc"])),
                "pointer": pointer(list(e["loc"])),
                "message": e["msg"],
            }
            for e in exc.errors()[:20]
        ]
        detail = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:3])
        raise Problem(
            422, f"the request does not match the API: {detail}", errors=problems
        ) from None


def _path_schema(path: str, param: str) -> dict[str, Any]:
    """A path parameter's schema: `{name}` names an existing thing (names.lookup_schema: any
    name a row has, also from before the name rule, never '.', '..', '/' or a control)."""
    if param == "name":
        return names.lookup_schema(path.strip("/").split("/")[0].removesuffix("s"))
    return {"type": "string", "minLength": 1}


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Of a value no alternative of an anyOf/oneOf takes, the refusal of the alternative its
    JSON type fits (e.g. the mapping form of a strategy's action: the key it lacks or should not
    have), which names the key and what it expects; when its type fits none, the refusal itself."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        fitting = [e for e in error.context if e.relative_path or _type_fits(e)]
        if not fitting:
            break
        error = jsonschema.exceptions.best_match(fitting)
    return error


def _type_fits(error: jsonschema.ValidationError) -> bool:
    """Whether the value's JSON type is the one the refusing keyword wants (a `type` refusal, or an
    enum or const of values of other types, says the alternative was not meant for it)."""
    if error.validator == "type":
        return False
    if error.validator in ("enum", "const"):
        wanted = error.validator_value if error.validator == "enum" else [error.validator_value]
        return any(type(w) is type(error.instance) for w in wanted)
    return True


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, but a name that breaks the name rule says the rule, and a value of
    a type no alternative takes says what is expected (the schema's description)."""
    if error.validator in ("anyOf", "oneOf") and isinstance(error.schema, dict):
        expected = error.schema.get("description")
        if expected:
            return f"{error.instance!r} is not valid here: expected {expected}"
    if error.validator == "pattern" and error.validator_value == names.PATTERN:
        return f"{error.instance!r} is not allowed: {names.RULE}"
    if error.validator == "pattern" and error.validator_value == names.LOOKUP_PATTERN:
        return f"{error.instance!r} is not allowed: {names.LOOKUP_RULE}"
    return str(error.message)


def _convert(raw: str, p: Param) -> Any:
    kind = p.schema.get("type")
    try:
        if kind == "integer":
            value = int(raw)
            if not -(2**63) <= value < 2**63:
                raise ValueError(raw)
            return value
        if kind == "number":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if kind == "boolean":
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise Problem(
            422,
            f"{p.name}: {raw!r} is not a {kind}",
            errors=[{"where": p.name, "message": f"not a {kind}"}],
        ) from None
    return raw


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def _check_raw_request(request: web.Request, op: Operation) -> None:
    """Path and query parameters as the client sent them: UTF-8 once percent-decoded (aiohttp
    would pass a bad path segment on still encoded and make U+FFFD of a bad query byte), no
    control characters (a percent-encoded NUL decodes to one), not over-long. 400 naming it."""
    segments = request.rel_url.raw_path.split("/")
    template = op.path.split("/")
    for raw, part in zip(segments, template, strict=False):
        if part.startswith("{") and part.endswith("}"):
            why = check_raw_utf8(raw, f"path parameter {part[1:-1]!r}")
            if why:
                raise Problem(400, why, errors=[{"where": part[1:-1], "message": "not UTF-8"}])
            check_param(part[1:-1], request.match_info.get(part[1:-1], ""), "path")
    for piece in request.rel_url.raw_query_string.split("&"):
        name, _, value = piece.replace("+", " ").partition("=")
        why = check_raw_utf8(name, "name of a query parameter") or check_raw_utf8(
            value, f"query parameter {name!r}"
        )
        if why:
            raise Problem(400, why, errors=[{"where": name, "message": "not UTF-8"}])
    for name, value in request.query.items():
        check_param(name, name, "query")  # its name, then its value
        check_param(name, value, "query")


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """The body, or a 413 as soon as it is known to be larger than `limit` (Content-Length, or
    counted while it streams in)."""
    too_large = f"the body is larger than {limit} bytes; this operation takes at most {limit}"
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, too_large)
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            raise Problem(413, too_large)
    return bytes(body)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body of an operation declared with `media` (its handler reads it): 413 beyond
    `limit` bytes, as soon as that is known."""
    return await _read_at_most(request, limit)


async def _json_body(request: web.Request, limit: int) -> Any:
    if request.content_type != "application/json":
        raise Problem(
            415, f"send the body as application/json (got {request.content_type or 'none'})"
        )
    return parse_json(await _read_at_most(request, limit), max_bytes=limit)


MAX_FORM_FIELDS = 100  # text fields beside the file in a multipart upload
MAX_FORM_FIELD = 64 * 1024  # bytes of one


async def _file_body(request: web.Request, limit: int) -> tuple[bytes, dict[str, list[str]]]:
    """The uploaded file, and any multipart text fields beside it (name -> values)."""
    if not request.body_exists:
        raise Problem(400, "send the file as the request body (text/csv) or as a part named 'file'")
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, f"the file is larger than {limit} bytes; send at most {limit}")
    # Beyond that, aiohttp's client_max_size (MAX_BODY) stops a body or a part while it streams.
    if request.content_type == "multipart/form-data":
        data: bytes | None = None
        form: dict[str, list[str]] = {}
        try:
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "file" and data is None:
                    data = bytes(await part.read(decode=True))
                elif part.name and part.filename is None:
                    form.setdefault(part.name, []).append(await _form_field(part))
                    if sum(map(len, form.values())) > MAX_FORM_FIELDS:
                        raise Problem(413, f"more than {MAX_FORM_FIELDS} form fields")
        except (
            ValueError,
            aiohttp.ClientError,
            aiohttp.http_exceptions.HttpProcessingError,
        ) as exc:
            raise Problem(400, f"the multipart body cannot be read: {exc}") from None
        if data is None:
            raise Problem(422, "the multipart body has no part named 'file'")
        return data, form
    if request.content_type in ("text/csv", "text/plain", "application/octet-stream"):
        return await request.read(), {}
    raise Problem(
        415, "send the file as text/csv, or as multipart/form-data with a part named 'file'"
    )


async def _form_field(part: aiohttp.BodyPartReader) -> str:
    """A text field of a multipart upload: UTF-8, at most MAX_FORM_FIELD bytes."""
    raw = bytearray()
    while chunk := await part.read_chunk(8192):
        raw += chunk
        if len(raw) > MAX_FORM_FIELD:
            raise Problem(
                413, f"the form field {part.name!r} is longer than {MAX_FORM_FIELD} bytes"
            )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, f"the form field {part.name!r} is not UTF-8 text") from None


@web.middleware
async def problems_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    import apsw

    from appliance.errors import DialboxError, NotFound

    try:
        return await handler(request)
    except apsw.BusyError:
        # Another process held the database's write lock beyond the busy timeout: a moment.
        log.warning("API %s %s: the database is busy; answered 503", request.method, request.path)
        return problem_response(
            503,
            "the database is busy with another writer; send the request again in a moment",
            headers={"Retry-After": "1"},
        )
    except Problem as exc:
        return problem_response(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)
    except NotFound as exc:
        return problem_response(404, str(exc))
    except DialboxError as exc:
        return problem_response(422, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = {
            404: f"there is no {request.path}; /openapi.json lists what there is",
            405: f"{request.method} is not allowed on {request.path}; /openapi.json lists what is",
            413: "the body is too large",
        }.get(exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        if exc.status == 405:
            headers = _allow(request, headers)
        return problem_response(exc.status, detail, headers=headers)
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return problem_response(500, "the box failed to do this; its log has the details")


def _allow(request: web.Request, headers: dict[str, str]) -> dict[str, str]:
    """A 405's Allow for a path declared as it is (`/agents/messages`) that a template
    (`/agents/{name}`) also matches: that path's methods only, as the document says — aiohttp
    lists every method of every route that matches."""
    for resource in request.app.router.resources():
        if isinstance(resource, web.PlainResource) and resource.canonical == request.path:
            return {"Allow": ",".join(sorted({route.method for route in resource}))}
    return headers
