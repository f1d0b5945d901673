"""The OpenAPI 3.1 document, generated from the registered operations and the bodies' models.

A small glue over pydantic's ``models_json_schema`` rather than flask-openapi3 or spectree: those
bring their own request parsing (floats for JSON numbers, their own error object and 422 shape),
and the API must keep its Decimal parsing, error codes and ``field`` paths. Views register in
:data:`OPERATIONS` (routes.py imports this module; this module never imports routes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from . import schemas
from .schemas import CODE_PATTERN, CURSOR_PATTERN, MAX_ID, PAGES

JSON = "application/json"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_IDEMPOTENCY_KEY = 200
#: the methods that change something: each is one transaction, its body JSON
WRITES = ("POST", "PUT", "PATCH")
#: status → (response component, what it means, the error codes it carries)
ERROR_STATUSES = {
    "400": ("BadRequest", "Malformed JSON, a bad cursor or a bad Idempotency-Key.", ["bad_request"]),
    "401": ("Unauthorized", "The bearer token is missing or not valid.", ["unauthorized"]),
    "403": ("Forbidden", "The signed-in role may not do this.", ["forbidden"]),
    "404": ("NotFound", "No such resource, or one of another client's.", ["not_found"]),
    "405": ("MethodNotAllowed", "The path does not serve this method; Allow lists those it does.",
            ["method_not_allowed"]),
    "409": ("Conflict", "The request clashes with the resource's state, or the key was used for another.",
            ["conflict", "idempotency_conflict"]),
    "413": ("TooLarge", "The request body is larger than the server accepts.", ["too_large"]),
    "415": ("UnsupportedMediaType", "A body that is not application/json.", ["unsupported_media_type"]),
    "422": ("Unprocessable", "A field is invalid, or the balance cannot cover a charge; nothing was posted.",
            ["validation_error", "insufficient_balance"]),
    "500": ("InternalError", "An unexpected failure; nothing was posted.", ["internal_error"]),
}
ERROR_CODES = [code for *_, codes in ERROR_STATUSES.values() for code in codes]
HEADERS = {
    "401": {"WWW-Authenticate": {"description": "Bearer.", "schema": {"type": "string"}}},
    "405": {"Allow": {"description": "The methods the path serves.", "schema": {"type": "string"}}},
}
#: a path argument's schema by name
PATH_ARGUMENTS = {
    "code": {"type": "string", "pattern": CODE_PATTERN.pattern},
    "number": {"type": "string", "minLength": 1, "maxLength": 40},
    "activity_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    endpoint: str
    summary: str
    tag: str
    answer: type[BaseModel] | str
    status: int = 200
    body: type[BaseModel] | None = None
    roles: str = ""
    query: tuple = ()
    page: bool = False
    fails: tuple = ()


#: every view's operation, recorded as it is registered
OPERATIONS: list[Operation] = []


def query(name: str, kind, description: str, **extra) -> dict:
    """A query parameter, described by the type ``kind`` its view reads it as."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": TypeAdapter(kind).json_schema(), **extra}


class _NoTitles(GenerateJsonSchema):
    """Properties without pydantic's generated titles: the names say it."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _paths_of(rule: str) -> list[tuple[str, str]]:
    """``(path, suffix)`` for a Flask rule: ``<x>`` → ``{x}``; ``any(a, b)`` → a path each."""
    forms, position = [("", "")], 0
    for argument in RULE_ARGUMENT.finditer(rule):
        literal = rule[position:argument.start()]
        if argument["converter"] == "any":
            choices = [(c.strip(" '\""), c.strip(" '\"")) for c in argument["args"].split(",")]
        else:
            choices = [("{" + argument["name"] + "}", "")]
        forms = [(path + literal + text, suffix or chosen) for path, suffix in forms for text, chosen in choices]
        position = argument.end()
    return [(path + rule[position:], suffix) for path, suffix in forms]


def _success(op: Operation) -> dict:
    if isinstance(op.answer, str):
        return {"description": "The document.", "content": {op.answer: {"schema": {"type": "string"}}}}
    answer = {"description": "Created" if op.status == 201 else "OK",
              "content": {JSON: {"schema": _ref(PAGES[op.answer] if op.page else op.answer)}}}
    if op.method == "POST":
        answer["headers"] = {"Idempotent-Replayed": {
            "description": "\"true\" when this is the stored first response to the same key.",
            "schema": {"type": "string", "enum": ["true"]}}}
    return answer


def _operation(op: Operation, suffix: str) -> dict:
    names = [a["name"] for a in RULE_ARGUMENT.finditer(op.rule) if a["converter"] != "any"]
    parameters = [{"name": n, "in": "path", "required": True, "schema": PATH_ARGUMENTS[n]} for n in names]
    parameters += list(op.query)
    fails = {401, 500, *op.fails, *([404] if names else []), *([403] if op.roles else [])}
    if op.query or op.page:
        fails |= {422}
    if op.page:
        parameters += [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}]
        fails |= {400}
    item = {"operationId": f"{suffix}_{op.endpoint}" if suffix else op.endpoint, "summary": op.summary,
            "tags": [op.tag]}
    if op.roles:
        item["description"] = f"Roles: {op.roles}."
    if op.method == "POST":
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if op.method in WRITES:
        fails |= {400, 403, 409, 413, 415, 422}
        body = _ref(op.body) if op.body is not None else {"type": "object", "maxProperties": 0}
        item["requestBody"] = {"required": op.body is not None, "content": {JSON: {"schema": body}}}
    item["parameters"] = parameters
    item["responses"] = {str(op.status): _success(op), **{
        str(s): {"$ref": f"#/components/responses/{ERROR_STATUSES[str(s)][0]}"} for s in sorted(fails)}}
    return item


def _schemas() -> dict:
    bodies = {op.body for op in OPERATIONS if op.body is not None}
    answers = {op.answer for op in OPERATIONS if not isinstance(op.answer, str)}
    models = [(m, "validation") for m in sorted(bodies, key=lambda m: m.__name__)]
    models += [(m, "serialization") for m in sorted(answers | set(PAGES.values()) | {schemas.Error},
                                                       key=lambda m: m.__name__)]
    _, generated = models_json_schema(models, ref_template="#/components/schemas/{model}",
                                      schema_generator=_NoTitles)
    found = generated["$defs"]
    found["ErrorDetail"]["properties"]["code"]["enum"] = ERROR_CODES
    return found


def _components() -> dict:
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "An API token from `ledger tokens create EMAIL`."}},
        "schemas": _schemas(),
        "parameters": {
            "Limit": query("limit", Annotated[int, Field(ge=1, le=MAX_LIMIT)],
                           f"The most items on one page; {DEFAULT_LIMIT} if absent."),
            "Cursor": query("cursor", Annotated[str, Field(pattern=CURSOR_PATTERN)],
                            "The `next` of the previous page."),
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
                           "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"},
                "description": "A repeat with the same key and body returns the first response and posts "
                               "nothing; the same key with another body is 409 idempotency_conflict."},
        },
        "responses": {name: {"description": f"{text} Codes: {', '.join(codes)}.",
                             "headers": HEADERS.get(status, {}),
                             "content": {JSON: {"schema": _ref(schemas.Error)}}}
                      for status, (name, text, codes) in ERROR_STATUSES.items()},
    }


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI 3.1 document served at ``/api/v1/openapi.json`` (shared: do not mutate)."""
    paths: dict[str, dict] = {
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document; no token needed.", "tags": ["meta"],
            "security": [], "responses": {"200": {"description": "The OpenAPI document.",
                                                  "content": {JSON: {"schema": {"type": "object"}}}}}}}}
    for op in OPERATIONS:
        for path, suffix in _paths_of(op.rule):
            paths.setdefault(path, {})[op.method.lower()] = _operation(op, suffix)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Support Ledger API", "version": "1", "description": (
            "Incident bundles, cases and support activity, balances and the ledger, quotes and the rate "
            "card, invoices and credit notes. Money is a string beside an ISO 4217 currency; dates are "
            "YYYY-MM-DD; times are ISO 8601 with an offset. A POST body is application/json (else 415); "
            "a method a path does not serve is 405 with Allow; an unexpected failure is 500 "
            "internal_error.")},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": tag} for tag in ("clients", "ledger", "support", "quotes", "rate card",
                                           "invoices", "vendor", "meta")],
        "paths": paths,
        "components": _components(),
    }
