"""The OpenAPI document: valid, complete against the app's routes, and true of real responses.

The route tests are the guard for new endpoints: a view served without its registered
operation (or the other way round) fails here. The walk through every documented operation
posts the document's own request examples and checks each real answer against the documented
schema, with every response object closed, so an answer that strays from its model fails too.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ledger.api.openapi import document
from ledger.config import MAX_BODY_BYTES
from ledger.extensions import db
from ledger.services.sla import seed_support_plans
from tests.helpers import both_engines, built_once, staff_api

PREFIX = "/api/v1"
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
#: ``<code>``, ``<int:activity_id>``, ``<any(send, accept):action>`` in a Flask rule
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


# --- helpers -----------------------------------------------------------------------


def documented_operations() -> dict[tuple[str, str], dict]:
    """``(METHOD, path) → operation`` for everything in the document."""
    return {
        (method.upper(), path): operation
        for path, item in document()["paths"].items()
        for method, operation in item.items() if method in HTTP_METHODS
    }


def documented_forms(rule) -> list[str]:
    """The document's paths for a Flask rule: ``<x>`` → ``{x}``; ``any(a, b)`` → a path each."""
    path = rule.rule.removeprefix(PREFIX)
    forms, position = [""], 0
    for argument in RULE_ARGUMENT.finditer(path):
        if argument["converter"] == "any":
            choices = [choice.strip(" '\"") for choice in argument["args"].split(",")]
        else:
            choices = ["{" + argument["name"] + "}"]
        literal = path[position:argument.start()]
        forms = [form + literal + choice for form in forms for choice in choices]
        position = argument.end()
    return [form + path[position:] for form in forms]


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")]


def routed_operations(app) -> dict[tuple[str, str], object]:
    """``(METHOD, path) → Flask rule`` for every API view of the app."""
    return {
        (method, path): rule
        for rule in api_rules(app)
        for method in rule.methods - {"HEAD", "OPTIONS"}
        for path in documented_forms(rule)
    }


def closed(schema):
    """A copy of ``schema`` in which every object with properties refuses any other field."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copied = {key: closed(value) for key, value in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema:
        copied["additionalProperties"] = False
    return copied


def resolve(node: dict) -> dict:
    """The response ``node`` refers to, if it is a reference to a component response."""
    if "$ref" not in node or not node["$ref"].startswith("#/components/responses/"):
        return node
    return document()["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]


@pytest.fixture(scope="module")
def validator():
    """``validator(schema)``: a JSON Schema 2020-12 validator whose refs reach the document."""
    Draft202012Validator = pytest.importorskip("jsonschema").Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    assert "date-time" in Draft202012Validator.FORMAT_CHECKER.checkers, "install rfc3339-validator"
    resource = DRAFT202012.create_resource(closed(copy.deepcopy(document())))
    registry = Registry().with_resource("urn:ledger-openapi", resource)

    def make(schema: dict):
        if "$ref" in schema:
            schema = {"$ref": "urn:ledger-openapi" + schema["$ref"]}
        return Draft202012Validator(schema, registry=registry,
                                    format_checker=Draft202012Validator.FORMAT_CHECKER)

    return make


def assert_matches(validator, schema: dict, value) -> None:
    errors = sorted(validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10])


def response_schema(method: str, path: str, status: int) -> dict:
    """The documented JSON schema of one response of one operation."""
    responses = documented_operations()[(method, path)]["responses"]
    assert str(status) in responses, f"{method} {path} does not document a {status} answer"
    return resolve(responses[str(status)])["content"]["application/json"]["schema"]


def example(name: str) -> dict:
    """The request example the document gives for the body schema ``name``."""
    return copy.deepcopy(document()["components"]["schemas"][name]["examples"][0])


# --- the document itself -------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1():
    spec_validator = pytest.importorskip("openapi_spec_validator")
    spec_validator.validate(document())
    assert document()["openapi"].startswith("3.1")


def test_the_document_is_served_without_a_token(app):
    response = app.test_client().get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == document()


def test_the_api_is_served_under_the_documented_server_url(app):
    assert document()["servers"] == [{"url": PREFIX}]
    assert all(rule.rule.startswith(PREFIX + "/") for rule in api_rules(app))


def test_every_api_route_is_documented_with_its_method(app):
    missing = sorted(set(routed_operations(app)) - set(documented_operations()))
    assert not missing, f"served, but not described in the document: {missing}"


def test_every_documented_operation_exists_in_the_app(app):
    extra = sorted(set(documented_operations()) - set(routed_operations(app)))
    assert not extra, f"documented but not served: {extra}"


def test_operation_ids_are_the_view_names(app):
    wrong = [
        (method, path, operation.get("operationId"), rule.endpoint)
        for (method, path), rule in routed_operations(app).items()
        if (operation := documented_operations().get((method, path)))
        and "any(" not in rule.rule  # one view serving several documented paths
        and operation.get("operationId") != rule.endpoint.removeprefix("api.")
    ]
    assert not wrong


def path_parameter_types(operation: dict) -> dict[str, str]:
    """``name → JSON type`` of the operation's path parameters."""
    components = document()["components"]["parameters"]
    found = [components[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
             for p in operation.get("parameters", [])]
    return {p["name"]: p["schema"]["type"] for p in found if p["in"] == "path"}


def test_path_parameters_are_the_route_arguments_with_their_types(app):
    for (method, path), rule in routed_operations(app).items():
        operation = documented_operations().get((method, path))
        if operation is None:
            continue  # reported by the coverage test
        routed = {
            argument["name"]: "integer" if argument["converter"] == "int" else "string"
            for argument in RULE_ARGUMENT.finditer(rule.rule) if argument["converter"] != "any"
        }
        assert path_parameter_types(operation) == routed, f"{method} {path}"


def test_every_post_takes_an_idempotency_key_and_documents_its_refusals():
    for (method, path), operation in documented_operations().items():
        if method != "POST":
            continue
        names = {p["$ref"] for p in operation["parameters"] if "$ref" in p}
        assert "#/components/parameters/IdempotencyKey" in names, path
        assert {"400", "401", "403", "409", "413", "422"} <= set(operation["responses"]), path


def answers_a_page(method: str, operation: dict) -> bool:
    content = resolve(operation["responses"].get("200", {})).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    return method == "GET" and schema.get("$ref", "").endswith("Page")


def test_exactly_the_lists_take_limit_and_cursor_and_answer_a_page():
    paging = {"#/components/parameters/Limit", "#/components/parameters/Cursor"}
    lists = 0
    for (method, path), operation in documented_operations().items():
        names = {parameter.get("$ref") for parameter in operation.get("parameters", [])}
        assert (paging <= names) == answers_a_page(method, operation), f"{method} {path}"
        lists += answers_a_page(method, operation)
    assert lists >= 4


def test_every_operation_but_the_document_itself_needs_a_token_and_documents_401():
    for (method, path), operation in documented_operations().items():
        public = operation.get("security") == []
        assert public == (path == "/openapi.json"), f"{method} {path}"
        assert public or "401" in operation["responses"], f"{method} {path}"


def test_every_error_response_carries_the_error_object():
    for (method, path), operation in documented_operations().items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = resolve(response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"


@pytest.mark.parametrize("name", [
    name for name, schema in document()["components"]["schemas"].items() if "examples" in schema
])
def test_each_example_in_the_document_satisfies_its_own_schema(validator, name):
    assert_matches(validator, {"$ref": f"#/components/schemas/{name}"}, example(name))


# --- every operation, for real ------------------------------------------------------


@dataclass
class World:
    """A client with a bundle, a case with free, charged and waived activities, and quotes."""

    api: object
    make_token: object
    case: str
    waived: int
    charged: int
    draft: str
    sent: str
    accepted: str
    invoice: str

    def path_values(self, path: str) -> dict:
        """What each ``{parameter}`` of ``path`` stands for in this world."""
        if path.startswith("/cases/"):
            number = self.case
        elif path.startswith("/invoices/"):
            number = self.invoice
        elif path.endswith("/send"):
            number = self.draft
        elif path.endswith(("/accept", "/decline")):
            number = self.sent
        else:
            number = self.accepted
        activity = self.charged if path.endswith("/waive") else self.waived
        return {"code": "WORLD", "number": number, "activity_id": activity}

    def as_role_of(self, operation: dict):
        """The API as the first role the operation's description names (an account manager
        when it names none): the document's roles must really be allowed."""
        named = re.match(r"Roles: (\w+)", operation.get("description", ""))
        role = named[1] if named else "account_manager"
        return self.api if role == "account_manager" else self.api.as_(self.make_token(role))


@built_once(after=("rate_card",))
def world_built(app, after) -> dict:
    """Built through the API by an account manager from the document's own request examples."""
    with app.app_context():  # the support plans `ledger init` seeds
        seed_support_plans(db.session)
        db.session.commit()
    api = staff_api(app)

    def post(path: str, body: dict) -> dict:
        response = api.post(path, body)
        assert response.status_code in (200, 201), (path, response.get_json())
        return response.get_json()

    post("/clients", {**example("NewClient"), "code": "WORLD"})
    post("/clients/WORLD/bundles", example("NewBundle"))
    case = post("/clients/WORLD/cases", example("NewCase"))["number"]
    post(f"/cases/{case}/helpdesk-answers", example("HelpdeskAnswer"))
    post(f"/cases/{case}/responses", example("TechnicianResponse"))
    waived = post(f"/cases/{case}/appointments", example("Appointment"))["id"]
    post(f"/activities/{waived}/waive", example("Waiver"))
    charged = post(f"/cases/{case}/appointments", example("Appointment"))["id"]
    draft, sent, accepted = (post("/clients/WORLD/quotes", example("NewQuote"))["number"]
                             for _ in range(3))
    for number in (sent, accepted):
        post(f"/quotes/{number}/send", {})
    post(f"/quotes/{accepted}/accept", {})
    post("/clients/WORLD/work", example("NewWork"))
    (invoice,) = staff_api(app, "finance").post("/invoices/run", example("InvoiceRun")).get_json()["issued"]
    return dict(case=case, waived=waived, charged=charged, draft=draft, sent=sent, accepted=accepted,
                invoice=invoice)


@pytest.fixture
def world(world_built, api, make_token) -> World:
    """The world built once, seen through this test's account manager."""
    return World(api, make_token, **world_built)


def success(operation: dict) -> int:
    (status,) = [int(s) for s in operation["responses"] if s.startswith("2")]
    return status


@pytest.mark.parametrize(("method", "path"), sorted(documented_operations()),
                         ids=[f"{m} {p}" for m, p in sorted(documented_operations())])
def test_each_operation_answers_its_example_as_documented(world, validator, method, path):
    operation = documented_operations()[(method, path)]
    url = path.format(**world.path_values(path))
    required = [p for p in operation.get("parameters", []) if p.get("in") == "query" and p.get("required")]
    if required:  # a required query parameter's documented example, e.g. ?period=2026-03
        url += "?" + "&".join(f"{p['name']}={p['example']}" for p in required)
    as_user = world.as_role_of(operation)
    if method in ("POST", "PUT", "PATCH"):
        request = operation["requestBody"]["content"]["application/json"]["schema"]
        body = example(request["$ref"].rsplit("/", 1)[1]) if "$ref" in request else {}
        if path.endswith("/payments"):  # the world's invoice is issued today: no payment predates it
            body = {**body, "paid_on": datetime.now(UTC).date().isoformat()}
        response = as_user.post(url, body) if method == "POST" else as_user.send(method, url, body)
    else:
        response = as_user.get(url)
    status = success(operation)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    (media_type,) = resolve(operation["responses"][str(status)])["content"]
    assert response.mimetype == media_type
    if media_type == "application/pdf":
        assert response.get_data().startswith(b"%PDF-")
    elif media_type == "application/xml":
        assert response.get_data().startswith(b"<?xml")
    elif media_type == "text/csv":
        assert response.get_data(as_text=True).count("\r\n") >= 2  # a header and a row
    else:
        assert_matches(validator, response_schema(method, path, status), response.get_json())


@both_engines
def test_a_waived_appointment_shows_every_optional_activity_field(world, validator):
    activity = world.api.get(f"/activities/{world.waived}").get_json()
    assert {"ended_at", "minutes", "waive_reason", "incidents_waived"} <= set(activity)
    assert activity["entries"], "an appointment with a bundle draws entries"
    assert_matches(validator, {"$ref": "#/components/schemas/Activity"}, activity)


@both_engines
def test_a_balance_with_lots_and_prepaid_hours_matches_its_schema(world, validator):
    balance = world.api.get("/clients/WORLD/balance").get_json()
    assert balance["incidents"]["lots"] and balance["hours"]
    assert_matches(validator, {"$ref": "#/components/schemas/Balance"}, balance)


def test_a_second_page_still_matches_the_page_schema(world, validator):
    first = world.api.get("/clients/WORLD/entries?limit=2").get_json()
    assert first["next"] is not None
    second = world.api.get(f"/clients/WORLD/entries?limit=2&cursor={first['next']}").get_json()
    assert second["items"] and second["items"][0]["id"] > first["items"][-1]["id"]
    assert_matches(validator, response_schema("GET", "/clients/{code}/entries", 200), second)


# --- errors, for real ----------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    url: str
    status: int
    code: str
    body: dict | None = None
    data: str | None = None
    token: str = "account_manager"
    key: str | None = None
    #: a first request with the same Idempotency-Key, posted before this one
    earlier: dict | None = None


BUNDLE = {"quantity": 5, "purchased_on": "2026-03-01"}
REFUSALS = [
    Refusal("GET", "/clients/{code}", "/clients/ACME", 401, "unauthorized", token=""),
    Refusal("GET", "/clients/{code}", "/clients/NOBODY", 404, "not_found"),
    Refusal("GET", "/clients", "/clients?cursor=!!", 400, "bad_request"),
    Refusal("GET", "/clients", "/clients?limit=0", 422, "validation_error"),
    Refusal("GET", "/clients/{code}/balance", "/clients/ACME/balance?as_of=soon", 422,
            "validation_error"),
    Refusal("GET", "/rate-card", "/rate-card", 403, "forbidden", token="client"),
    Refusal("POST", "/clients/{code}/bundles", "/clients/ACME/bundles", 403, "forbidden",
            body=BUNDLE, token="client"),
    Refusal("POST", "/clients/{code}/bundles", "/clients/ACME/bundles", 400, "bad_request",
            data="{not json"),
    Refusal("POST", "/clients/{code}/bundles", "/clients/ACME/bundles", 413, "too_large",
            data=" " * (MAX_BODY_BYTES + 1)),
    Refusal("POST", "/clients/{code}/bundles", "/clients/ACME/bundles", 422, "validation_error",
            body={**BUNDLE, "quantity": 0}),
    Refusal("POST", "/clients", "/clients", 409, "conflict",
            body={**example("NewClient"), "code": "ACME"}),
    Refusal("POST", "/clients/{code}/bundles", "/clients/ACME/bundles", 409,
            "idempotency_conflict", body=BUNDLE, key="k-1", earlier={**BUNDLE, "quantity": 6}),
    Refusal("POST", "/cases/{number}/responses", "/cases/{blocked_case}/responses", 422,
            "insufficient_balance", body=example("TechnicianResponse")),
    Refusal("POST", "/activities/{activity_id}/waive", "/activities/999999/waive", 404,
            "not_found", body=example("Waiver")),
]


@pytest.fixture
def blocked_case(api, make_client, rate_card) -> str:
    """ACME bills overage; BLOCKED refuses it and has an open case, and no incidents."""
    make_client("ACME")
    make_client("BLOCKED", overage_policy="block")
    return api.post("/clients/BLOCKED/cases", example("NewCase")).get_json()["number"]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[f"{r.status} {r.code} {r.method} {r.url}"
                                                   for r in REFUSALS])
def test_each_refusal_is_documented_and_answers_the_error_object(api, make_token, blocked_case,
                                                                 validator, refusal):
    tokens = {"account_manager": lambda: api.token, "": lambda: "",
              "client": lambda: make_token("client", client="ACME")}
    as_user = api.as_(tokens[refusal.token]())
    url = refusal.url.format(blocked_case=blocked_case)
    headers = {"Idempotency-Key": refusal.key} if refusal.key else None
    if refusal.earlier is not None:
        assert as_user.post(url, refusal.earlier, headers=headers).status_code == 201
    if refusal.method == "GET":
        response = as_user.get(url)
    else:
        response = as_user.post(url, refusal.body, headers=headers, data=refusal.data)
    assert response.status_code == refusal.status, response.get_json()
    assert response.get_json()["error"]["code"] == refusal.code
    assert_matches(validator, response_schema(refusal.method, refusal.path, refusal.status),
                   response.get_json())
