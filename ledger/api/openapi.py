"""The OpenAPI 3.1 document of the JSON API, built from small helpers and computed once.

Response objects stay open to new fields (API.md: "extend freely"); request bodies are
closed, because :meth:`fields.Body.done` refuses any field it did not read.
"""

from __future__ import annotations

from functools import lru_cache

from ..models import (
    ACTIVITY_KINDS,
    ENTRY_KINDS,
    LOT_KINDS,
    OVERAGE_POLICIES,
    QUOTE_STATES,
    QUOTE_UNITS,
    ROLES,
    SEVERITIES,
    UNITS,
)
from ..services.bundles import MAX_BUNDLE
from ..services.clients import CODE_PATTERN
from ..services.quotes import MAX_LINES, MAX_QUANTITY
from ..services.ratecards import ROLE_CODE
from ..services.work import MAX_WORK_MINUTES
from . import DEFAULT_LIMIT, MAX_IDEMPOTENCY_KEY, MAX_LIMIT

JSON = "application/json"
MONEY_PATTERN = r"^-?\d+(\.\d{2,4})?$"
DECIMAL_PATTERN = r"^\d+(\.\d+)?$"
#: the error codes a client may see, by the status that carries them
ERROR_STATUSES = {
    "400": ("BadRequest", "Malformed JSON, a bad cursor or a bad Idempotency-Key.",
            ["bad_request"]),
    "401": ("Unauthorized", "The bearer token is missing or not valid.", ["unauthorized"]),
    "403": ("Forbidden", "The signed-in role may not do this.", ["forbidden"]),
    "404": ("NotFound", "No such resource, or one of another client's.", ["not_found"]),
    "409": ("Conflict", "The request clashes with the resource's state, or the Idempotency-Key "
            "was used with another request.", ["conflict", "idempotency_conflict"]),
    "413": ("TooLarge", "The request body is larger than the server accepts.", ["too_large"]),
    "422": ("Unprocessable", "A field is invalid or the balance cannot cover a charge under the "
            "block policy; nothing was posted.", ["validation_error", "insufficient_balance"]),
}
ERROR_CODES = [code for *_, codes in ERROR_STATUSES.values() for code in codes] + [
    "method_not_allowed"]


# --- schema helpers -----------------------------------------------------------------


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str | None = None, **keywords) -> dict:
    return _described({"type": "string", **keywords}, description)


def text(max_length: int, description: str | None = None) -> dict:
    """Free text that may not be blank."""
    return string(description, minLength=1, maxLength=max_length, pattern=r"\S")


def decimal(description: str | None = None) -> dict:
    """A non-negative decimal written as a string, e.g. ``"1.5"``."""
    return string(description, pattern=DECIMAL_PATTERN)


def number(description: str | None = None, **keywords) -> dict:
    """A decimal given as a JSON number or as a string (``2``, ``1.5``, ``"0.25"``)."""
    return _described({"type": ["number", "string"], "pattern": DECIMAL_PATTERN, **keywords},
                      description)


def integer(description: str | None = None, **keywords) -> dict:
    return _described({"type": "integer", **keywords}, description)


def day(description: str | None = None) -> dict:
    """A ``YYYY-MM-DD`` date."""
    return string(description, format="date")


def moment(description: str | None = None) -> dict:
    """An ISO 8601 time with a UTC offset."""
    return string(description, format="date-time")


def choice(values, description: str | None = None) -> dict:
    return string(description, enum=list(values))


def array(items: dict, description: str | None = None) -> dict:
    return _described({"type": "array", "items": items}, description)


def nullable(schema: dict) -> dict:
    """``schema`` or null."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: dict, optional: dict | None = None, *, closed: bool = False,
        description: str | None = None) -> dict:
    """An object with ``required`` and ``optional`` properties; ``closed`` refuses any other."""
    schema = {"type": "object", "properties": {**required, **(optional or {})},
              "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return _described(schema, description)


def _described(schema: dict, description: str | None) -> dict:
    return {**schema, "description": description} if description else schema


# --- components -----------------------------------------------------------------------


def schemas() -> dict:
    """The response shapes of serialize.py, and the error object."""
    client_code = string("The client's code.", pattern=CODE_PATTERN.pattern)
    return {
        "Money": string("An amount with the currency's decimals, e.g. \"1234.50\"; never a "
                        "number. The currency is given beside it.", pattern=MONEY_PATTERN,
                        examples=["1234.50"]),
        "Currency": string("An ISO 4217 currency code.", pattern="^[A-Z]{3}$", examples=["USD"]),
        "Percent": string("A percentage as a string: \"10\" is 10 %, \"8.25\" is 8.25 %.",
                          pattern=DECIMAL_PATTERN, examples=["8.25"]),
        "Term": obj({"start": day("First day of the term."), "end": day("Last day of the term.")}),
        "Client": obj({
            "code": client_code, "name": string(), "currency": ref("Currency"),
            "locale": string(examples=["en_US"]), "tax_rate": ref("Percent"),
            "term_start": day("The anniversary date terms run from."),
            "term": {**ref("Term"), "description": "The annual term containing today."},
            "maintenance_fee": ref("Money"), "overage_policy": choice(OVERAGE_POLICIES),
            "address": string(),
        }),
        "Lot": obj({
            "id": integer(), "kind": choice(LOT_KINDS),
            "quantity": integer("Incidents the lot held when created.", minimum=1),
            "remaining": integer("Incidents left on the balance's day.", minimum=0),
            "starts_on": day(), "expires_on": nullable(day("Last day the lot can be drawn on.")),
        }),
        "Balance": obj({
            "client": client_code, "as_of": day(),
            "incidents": obj({
                "available": integer(minimum=0), "lots": array(ref("Lot")),
                "overage": integer("Incidents charged beyond the balance this term.", minimum=0),
            }),
            "hours": {"type": "object", "description": "Prepaid professional-service time by role.",
                      "additionalProperties": obj({"available_minutes": integer(minimum=0)})},
        }),
        "Bundle": obj({
            "id": integer(), "client": client_code, "quantity": integer(minimum=1),
            "unit_price": ref("Money"), "currency": ref("Currency"), "purchased_on": day(),
            "lot": ref("Lot"),
        }),
        "Case": obj({
            "number": string(examples=["C-000042"]), "client": client_code, "subject": string(),
            "severity": choice(SEVERITIES), "opened_at": moment(),
        }),
        "Entry": obj({
            "id": integer(), "posted_at": moment(), "effective_on": day(), "unit": choice(UNITS),
            "quantity": integer("Signed: credits positive, debits negative; incidents or minutes.",
                                **{"not": {"const": 0}}),
            "kind": choice(ENTRY_KINDS), "lot_id": nullable(integer()),
            "activity_id": nullable(integer()), "reverses_id": nullable(integer()),
            "memo": string(),
        }),
        "Activity": activity_schema(),
        "Work": activity_schema({
            "role": string("The rate-card role."), "performed_on": day(),
            "description": string(),
            "billed_minutes": integer("Minutes rounded up to the billing increment.", minimum=1),
            "prepaid_minutes_used": integer("Billed minutes drawn from prepaid hours.", minimum=0),
            "overage_minutes": integer("Billed minutes beyond prepaid hours, invoiced at the "
                                       "role's hourly rate.", minimum=0),
        }),
        "Quote": quote_schema(),
        "RateCard": rate_card_schema(),
        "TermClose": obj({
            "client": client_code, "term_start": day(), "term_end": day(),
            "rolled_over": integer(minimum=0), "expired": integer(minimum=0),
        }),
        "TermCloseResult": obj({"closed": array(ref("TermClose"))}),
        "Me": obj({"email": string(), "role": choice(ROLES),
                   "client": nullable(string("A client user's client code."))}),
        "Error": obj({"error": obj({"code": choice(ERROR_CODES), "message": string()},
                                   {"field": string("The offending input.")})}),
        **{f"{name}Page": page_schema(name)
           for name in ("Client", "Case", "Activity", "Entry", "Quote")},
    }


def activity_schema(extra: dict | None = None) -> dict:
    """An activity; appointments add their end and length, waived ones the reason."""
    return obj({
        **(extra or {}),
        "id": integer(), "kind": choice(ACTIVITY_KINDS), "client": string(),
        "case": nullable(string("The case number.")),
        "occurred_at": moment("When it happened, in the offset it was logged with."),
        "effective_on": day("The day the charge counts on."),
        "actor": string("The technician or help-desk agent."), "note": string(),
        "incidents_charged": integer("Incidents it costs now (0 once waived).", minimum=0),
        "waived": {"type": "boolean"}, "entries": array(ref("Entry")),
    }, {
        "ended_at": moment("An appointment's end."),
        "minutes": integer("An appointment's length.", minimum=1),
        "waive_reason": string("Why the charge was waived."),
        "incidents_waived": integer("What the rules charged before the waiver.", minimum=0),
    })


def quote_schema() -> dict:
    """A quote at the prices of the rate-card version it locked; tax comes on the invoice."""
    line = obj({"role": string(), "unit": choice(QUOTE_UNITS),
                "quantity": decimal("Hours or days."), "unit_price": ref("Money"),
                "amount": ref("Money")})
    return obj({
        "number": string(examples=["Q-2026-00012"]), "client": string(),
        "state": choice(QUOTE_STATES, "An open quote past valid_until reads expired."),
        "valid_until": day(), "rate_card_version": integer(minimum=1), "lines": array(line),
        "hours_total": decimal("Hours in all lines, a day counted as 8."),
        "discount_percent": ref("Percent"),
        "subtotal": ref("Money"), "discount": ref("Money"), "total": ref("Money"),
        "currency": ref("Currency"), "created_at": moment(), "sent_at": nullable(moment()),
        "decided_at": nullable(moment("When it was accepted or declined.")),
    })


def rate_card_schema() -> dict:
    role = obj({"code": string(examples=["analyst"]), "title": string(),
                "hourly": ref("Money"), "daily": ref("Money")})
    tier = obj({"min_hours": integer(minimum=0), "percent": ref("Percent")})
    return obj({
        "version": integer(minimum=1), "effective_from": day(), "currency": ref("Currency"),
        "roles": array(role), "incident_price": ref("Money"), "overage_price": ref("Money"),
        "maintenance_fee": ref("Money"),
        "volume_discounts": array(tier, "Discount tiers on the hours bought in one quote."),
    })


def page_schema(name: str) -> dict:
    return obj({
        "items": array(ref(name)),
        "next": nullable(string("The cursor of the next page; null on the last.")),
    }, description=f"One page of {name} objects.")


def responses() -> dict:
    """The error responses, each carrying the Error object."""
    return {
        name: {"description": f"{description} Codes: {', '.join(codes)}.",
               "content": {JSON: {"schema": ref("Error")}}}
        for name, description, codes in ERROR_STATUSES.values()
    }


def parameter(name: str, where: str, schema: dict, description: str,
              required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": schema}


def parameters() -> dict:
    return {
        "Code": parameter("code", "path", string(pattern=CODE_PATTERN.pattern),
                          "The client's code."),
        "CaseNumber": parameter("number", "path", string(), "The case number, e.g. C-000042."),
        "ActivityId": parameter("activity_id", "path", integer(minimum=1), "The activity's id."),
        "QuoteNumber": parameter("number", "path", string(), "The quote number, e.g. "
                                 "Q-2026-00012."),
        "Limit": parameter("limit", "query", integer(minimum=1, maximum=MAX_LIMIT,
                                                     default=DEFAULT_LIMIT),
                           "The most items on one page."),
        "Cursor": parameter("cursor", "query", string(),
                            "The `next` value of the previous page."),
        "AsOf": parameter("as_of", "query", day(), "The day to answer for; today (UTC) if absent."),
        "IdempotencyKey": parameter(
            "Idempotency-Key", "header", string(minLength=1, maxLength=MAX_IDEMPOTENCY_KEY),
            "A repeat with the same key and body returns the first response and posts nothing; "
            "the same key with another body is 409 idempotency_conflict."),
    }


# --- request bodies -------------------------------------------------------------------


def request_bodies() -> dict:
    """The bodies routes.py reads, each with an example the API accepts (the tests post them)."""
    from .routes import MAX_NAME, MAX_NOTE

    note = {"note": nullable(string(maxLength=MAX_NOTE))}
    return {
        "NewClient": body({
            "code": string(pattern=CODE_PATTERN.pattern), "name": text(MAX_NAME),
            "currency": ref("Currency"), "locale": text(20, "A locale, e.g. en_US or de_DE."),
            "tax_rate": {**ref("Percent"), "description": "From 0 to 100, at most 3 decimals."},
            "term_start": day("The anniversary date the client's annual terms run from."),
        }, {
            "maintenance_fee": nullable(ref("Money")),
            "overage_policy": nullable(choice(OVERAGE_POLICIES, "Default bill.")),
            "address": nullable(string(maxLength=1000)),
        }, example={
            "code": "ACME", "name": "Acme Corp", "currency": "USD", "locale": "en_US",
            "tax_rate": "8.25", "term_start": "2026-01-01", "maintenance_fee": "1200.00",
            "overage_policy": "bill",
        }),
        "NewBundle": body({
            "quantity": integer(minimum=1, maximum=MAX_BUNDLE),
            "purchased_on": day("The lot expires at the end of the term containing this day."),
        }, {
            "unit_price": nullable({**ref("Money"), "description": "Default: the rate card's."}),
        }, example={"quantity": 40, "purchased_on": "2026-03-01"}),
        "NewCase": body({
            "subject": text(MAX_NAME), "severity": choice(SEVERITIES), "opened_at": moment(),
        }, example={"subject": "Mail server down", "severity": "critical",
                    "opened_at": "2026-03-02T09:00:00+01:00"}),
        "HelpdeskAnswer": body(
            {"answered_at": moment(), "by": text(120)}, note,
            example={"answered_at": "2026-03-02T10:00:00+01:00", "by": "Dana"}),
        "TechnicianResponse": body(
            {"responded_at": moment(), "technician": text(120)}, note,
            example={"responded_at": "2026-03-02T10:30:00+01:00", "technician": "Sam"}),
        "Appointment": body({
            "started_at": moment(), "ended_at": moment("After started_at, at most 24 hours on."),
            "technician": text(120),
        }, note, example={"started_at": "2026-03-02T14:00:00+01:00",
                          "ended_at": "2026-03-02T15:01:00+01:00", "technician": "Sam",
                          "note": "on site"}),
        "Waiver": body({"reason": text(MAX_NOTE)},
                       example={"reason": "site down caused by our update"}),
        "NewRateCard": body({
            "currency": ref("Currency"), "effective_from": day("The first day it is in force."),
            "incident_price": ref("Money"), "overage_price": ref("Money"),
            "roles": {**array(body_of({
                "code": string(pattern=ROLE_CODE.pattern), "title": text(120),
                "hourly": ref("Money"), "daily": ref("Money"),
            })), "minItems": 1, "maxItems": 50},
        }, {
            "maintenance_fee": nullable(ref("Money")),
            "volume_discounts": nullable({**array(body_of({
                "min_hours": integer(minimum=1, maximum=100_000),
                "percent": number(exclusiveMinimum=0, exclusiveMaximum=100),
            })), "maxItems": 20}),
        }, example={
            "currency": "USD", "effective_from": "2027-01-01", "incident_price": "210.00",
            "overage_price": "260.00", "roles": [{"code": "analyst", "title": "Business Analyst",
                                                   "hourly": "160.00", "daily": "1280.00"}],
            "volume_discounts": [{"min_hours": 40, "percent": "5"}],
        }),
        "NewQuote": body({
            "lines": {**array(body_of({
                "role": text(40, "A role code on the rate card."), "unit": choice(QUOTE_UNITS),
                "quantity": number("Hours or days, in quarters.", exclusiveMinimum=0,
                                   maximum=int(MAX_QUANTITY), multipleOf=0.25),
            })), "minItems": 1, "maxItems": MAX_LINES},
            "valid_until": day("The last day it can be accepted; not in the past."),
        }, example={"lines": [{"role": "analyst", "unit": "day", "quantity": 5},
                              {"role": "developer", "unit": "hour", "quantity": "12.5"}],
                    "valid_until": "2099-12-31"}),
        "NewWork": body({
            "role": text(40, "A role code on the rate card."),
            "minutes": integer(minimum=1, maximum=MAX_WORK_MINUTES),
            "performed_on": day(), "description": text(MAX_NOTE),
        }, {"case": nullable(string("A case number of the same client.", maxLength=20))},
            example={"role": "analyst", "minutes": 95, "performed_on": "2026-03-03",
                     "description": "Data migration workshop"}),
        "TermsClose": body({"as_of": day("Close every term that ended on or before this day.")},
                           example={"as_of": "2026-12-31"}),
    }


def body(required: dict, optional: dict | None = None, *, example: dict) -> dict:
    """A request body: closed to unknown fields, with an example the API accepts."""
    return {**body_of(required, optional), "examples": [example]}


def body_of(required: dict, optional: dict | None = None) -> dict:
    """An object in a request body: unknown fields are refused."""
    return obj(required, optional, closed=True)


# --- operations -----------------------------------------------------------------------


def errors(*statuses: int) -> dict:
    return {str(s): {"$ref": f"#/components/responses/{ERROR_STATUSES[str(s)][0]}"}
            for s in statuses}


def param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def get(endpoint: str, summary: str, schema: str, *, params=(), fails=(), roles: str = "",
        tag: str) -> dict:
    """A GET answering 200 with ``schema``; every one needs a token."""
    return {
        "operationId": endpoint, "summary": summary, "tags": [tag],
        **({"description": f"Roles: {roles}."} if roles else {}),
        "parameters": list(params),
        "responses": {"200": _ok("OK", schema), **errors(401, *fails)},
    }


def listing(endpoint: str, summary: str, item: str, *, params=(), fails=(), tag: str) -> dict:
    """A GET of one page of ``item`` objects, taking ``limit`` and ``cursor``."""
    return get(endpoint, summary, f"{item}Page", params=[*params, param("Limit"), param("Cursor")],
               fails=sorted({400, 422, *fails}), tag=tag)


def post(endpoint: str, summary: str, body: str | None, schema: str, *, status: int = 201,
         params=(), roles: str, tag: str) -> dict:
    """A POST: idempotent with a key, one transaction; answers ``status`` with ``schema``.

    ``body`` names the request body's schema; None for an action that takes none.
    """
    fails = [400, 401, 403, *([404] if params else []), 409, 413, 422]
    ok = _ok("Created" if status == 201 else "OK", schema)
    ok["headers"] = {"Idempotent-Replayed": {
        "description": "\"true\" when this is the stored first response to the same key.",
        "schema": string(enum=["true"])}}
    return {
        "operationId": endpoint, "summary": summary, "tags": [tag],
        "description": f"Roles: {roles}. Nothing is posted unless it answers {status}.",
        "parameters": [*params, param("IdempotencyKey")],
        "requestBody": {"required": body is not None, "content": {JSON: {
            "schema": ref(body) if body else {"type": "object", "maxProperties": 0}}}},
        "responses": {str(status): ok, **errors(*fails)},
    }


def _ok(description: str, schema: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


STAFF = "account_manager, admin"
CODE, CASE, ACTIVITY, QUOTE = (param(name) for name in ("Code", "CaseNumber", "ActivityId",
                                                         "QuoteNumber"))


def paths() -> dict:
    """Every route of routes.py, by area."""
    return {**meta_paths(), **client_paths(), **support_paths(), **quote_paths(),
            **rate_card_paths()}


def meta_paths() -> dict:
    document_response = {"description": "The OpenAPI document.",
                         "content": {JSON: {"schema": {"type": "object"}}}}
    return {
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document; no token needed.",
            "tags": ["meta"], "security": [], "responses": {"200": document_response},
        }},
        "/me": {"get": get("me", "The signed-in user.", "Me", tag="meta")},
    }


def client_paths() -> dict:
    dated = [parameter("from", "query", day(), "Entries effective on or after this day."),
             parameter("to", "query", day(), "Entries effective on or before this day.")]
    return {
        "/clients": {
            "get": listing("list_clients", "Clients the user may see, by id.", "Client",
                           tag="clients"),
            "post": post("create_client", "Create a client.", "NewClient", "Client",
                         roles=STAFF, tag="clients"),
        },
        "/clients/{code}": {"get": get("get_client", "A client, with its current term.",
                                       "Client", params=[CODE], fails=[404], tag="clients")},
        "/clients/{code}/balance": {"get": get(
            "get_balance", "Incidents by lot, overage and prepaid minutes on a day.", "Balance",
            params=[CODE, param("AsOf")], fails=[404, 422], tag="ledger")},
        "/clients/{code}/entries": {"get": listing(
            "list_entries", "The client's ledger entries, oldest first.", "Entry",
            params=[CODE, *dated], fails=[404], tag="ledger")},
        "/clients/{code}/bundles": {"post": post(
            "buy_bundle", "Sell a bundle of incidents: a lot expiring at the end of the term.",
            "NewBundle", "Bundle", params=[CODE], roles=STAFF, tag="ledger")},
        "/terms/close": {"post": post(
            "close_terms", "Close every term ended by a day: rollover and expiry; idempotent.",
            "TermsClose", "TermCloseResult", status=200, roles="finance, admin", tag="ledger")},
    }


def support_paths() -> dict:
    def log(endpoint: str, summary: str, body: str) -> dict:
        return {"post": post(endpoint, summary, body, "Activity", params=[CASE], roles=STAFF,
                             tag="support")}

    return {
        "/clients/{code}/cases": {
            "get": listing("list_cases", "The client's cases.", "Case", params=[CODE],
                           fails=[404], tag="support"),
            "post": post("open_case", "Open a case.", "NewCase", "Case", params=[CODE],
                         roles=STAFF, tag="support"),
        },
        "/cases/{number}": {"get": get("get_case", "A case.", "Case", params=[CASE],
                                       fails=[404], tag="support")},
        "/cases/{number}/activities": {"get": listing(
            "list_activities", "What support did on a case.", "Activity", params=[CASE],
            fails=[404], tag="support")},
        "/cases/{number}/helpdesk-answers": log(
            "log_helpdesk_answer", "Log an immediate help-desk answer (charges 0).",
            "HelpdeskAnswer"),
        "/cases/{number}/responses": log(
            "log_response", "Log a technician response (the first on a case charges 1).",
            "TechnicianResponse"),
        "/cases/{number}/appointments": log(
            "log_appointment", "Log a concluded appointment (2 incidents for the first hour, "
            "then 1 per further 30 minutes).", "Appointment"),
        "/activities/{activity_id}": {"get": get(
            "get_activity", "An activity with its entries.", "Activity", params=[ACTIVITY],
            fails=[404], tag="support")},
        "/activities/{activity_id}/waive": {"post": post(
            "waive", "Waive an activity's charge with a written reason.", "Waiver", "Activity",
            params=[ACTIVITY], roles=STAFF, tag="support")},
        "/clients/{code}/work": {"post": post(
            "log_work", "Log professional-service work, drawn from the role's prepaid hours.",
            "NewWork", "Work", params=[CODE], roles=STAFF, tag="support")},
    }


def quote_paths() -> dict:
    def move(action: str, summary: str, roles: str) -> dict:
        return {"post": post(f"{action}_quote", summary, None, "Quote", status=200,
                             params=[QUOTE], roles=roles, tag="quotes")}

    pdf = {"description": "The quote as a PDF.",
           "content": {"application/pdf": {"schema": {"type": "string",
                                                      "contentMediaType": "application/pdf"}}}}
    return {
        "/clients/{code}/quotes": {
            "get": listing("list_quotes", "The client's quotes (a client user sees no drafts).",
                           "Quote", params=[CODE], fails=[404], tag="quotes"),
            "post": post("create_quote", "Write a draft quote at today's rate card.",
                         "NewQuote", "Quote", params=[CODE], roles=STAFF, tag="quotes"),
        },
        "/quotes/{number}": {"get": get("get_quote", "A quote.", "Quote", params=[QUOTE],
                                        fails=[404], tag="quotes")},
        "/quotes/{number}/pdf": {"get": {
            "operationId": "quote_pdf", "summary": "A quote as a PDF.", "tags": ["quotes"],
            "parameters": [QUOTE], "responses": {"200": pdf, **errors(401, 404)},
        }},
        "/quotes/{number}/send": move("send", "Send a draft quote to the client.", STAFF),
        "/quotes/{number}/accept": move(
            "accept", "Accept a sent quote: prepaid hours per role, billed on the next invoice.",
            "account_manager, finance, client (its own), admin"),
        "/quotes/{number}/decline": move("decline", "Decline a sent quote.",
                                         "account_manager, client (its own), admin"),
    }


def rate_card_paths() -> dict:
    return {"/rate-card": {
        "get": get("rate_card", "The rate card in force on a day.", "RateCard", params=[
            parameter("currency", "query", {**ref("Currency"), "default": "USD"},
                      "The card's currency."),
            parameter("on", "query", day(), "The day; today (UTC) if absent."),
        ], fails=[403, 404, 422], roles="account_manager, finance, admin", tag="rate card"),
        "post": post("create_rate_card", "Publish a new version of a currency's rate card.",
                     "NewRateCard", "RateCard", roles="finance, admin", tag="rate card"),
    }}


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI 3.1 document served at ``/api/v1/openapi.json`` (shared: do not mutate)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support Ledger API", "version": "1",
            "description": "Incident bundles, cases and support activity, balances and the "
                           "ledger. Money is a string beside an ISO 4217 currency; dates are "
                           "YYYY-MM-DD; times are ISO 8601 with an offset.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in ("clients", "support", "ledger", "quotes", "rate card",
                                                  "meta")],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API token from `ledger tokens "
                                                          "create EMAIL`."}},
            "schemas": {**schemas(), **request_bodies()},
            "parameters": parameters(),
            "responses": responses(),
        },
    }
