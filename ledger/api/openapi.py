"""The OpenAPI 3.1 document of the JSON API, built from small helpers and computed once.

Each area (clients and the ledger, support, quotes and the rate card, invoices) gives its response
schemas, its request bodies and its paths. Response objects stay open to new fields
(API.md: "extend freely"); request bodies are closed, because :meth:`fields.Body.done`
refuses any field it did not read. ``tests/integration/test_openapi.py`` checks the document
against the app's routes and real responses.
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
from ..models.invoicing import DOCUMENT_KINDS, LINE_KINDS
from ..services.bundles import MAX_BUNDLE
from ..services.clients import CODE_PATTERN
from ..services.quotes import MAX_LINES, MAX_QUANTITY
from ..services.ratecards import ROLE_CODE
from ..services.work import MAX_WORK_MINUTES
from . import DEFAULT_LIMIT, MAX_IDEMPOTENCY_KEY, MAX_LIMIT

JSON = "application/json"
#: the currency's decimals: two for most, none for JPY, three for KWD
MONEY_PATTERN = r"^-?\d+(\.\d{2,4})?$"
DECIMAL_PATTERN = r"^\d+(\.\d+)?$"
#: a calendar month, as invoices are run and filtered
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
#: status → (response component, what it means, the error codes it carries)
ERROR_STATUSES = {
    "400": ("BadRequest", "Malformed JSON, a bad cursor or a bad Idempotency-Key.",
            ["bad_request"]),
    "401": ("Unauthorized", "The bearer token is missing or not valid.", ["unauthorized"]),
    "403": ("Forbidden", "The signed-in role may not do this.", ["forbidden"]),
    "404": ("NotFound", "No such resource, or one of another client's.", ["not_found"]),
    "409": ("Conflict", "The request clashes with the resource's state, or the Idempotency-Key "
            "was used with another request.", ["conflict", "idempotency_conflict"]),
    "413": ("TooLarge", "The request body is larger than the server accepts.", ["too_large"]),
    "422": ("Unprocessable", "A field is invalid, or the balance cannot cover a charge under "
            "the block policy; nothing was posted.", ["validation_error", "insufficient_balance"]),
}
#: every code of the error object; a method a path does not serve answers 405 method_not_allowed
ERROR_CODES = [code for *_, codes in ERROR_STATUSES.values() for code in codes]
ERROR_CODES.append("method_not_allowed")
#: who may call what, as the operations' descriptions say it
STAFF = "account_manager, admin"
FINANCE = "finance, admin"


# --- schema helpers -----------------------------------------------------------------


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str | None = None, **keywords) -> dict:
    """A string, with JSON Schema ``keywords`` such as ``pattern``."""
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
    """A whole number, with JSON Schema ``keywords`` such as ``minimum``."""
    return _described({"type": "integer", **keywords}, description)


def day(description: str | None = None) -> dict:
    """A ``YYYY-MM-DD`` date."""
    return string(description, format="date")


def moment(description: str | None = None) -> dict:
    """An ISO 8601 time with a UTC offset."""
    return string(description, format="date-time")


def choice(values, description: str | None = None) -> dict:
    """One of ``values``."""
    return string(description, enum=list(values))


def array(items: dict, description: str | None = None, **keywords) -> dict:
    """A list of ``items``."""
    return _described({"type": "array", "items": items, **keywords}, description)


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


def body(required: dict, optional: dict | None = None, *, example: dict | None = None) -> dict:
    """A request body (or an object inside one): unknown fields are refused.

    ``example`` is one the API accepts; the OpenAPI test posts it.
    """
    schema = obj(required, optional, closed=True)
    return {**schema, "examples": [example]} if example is not None else schema


def client_code() -> dict:
    """A client's code, as every response names the client."""
    return string("The client's code.", pattern=CODE_PATTERN.pattern)


def _described(schema: dict, description: str | None) -> dict:
    return {**schema, "description": description} if description else schema


def _limits() -> tuple[int, int]:
    """routes.py's longest name and note; imported late, as routes.py imports this module."""
    from .routes import MAX_NAME, MAX_NOTE

    return MAX_NAME, MAX_NOTE


# --- operation helpers --------------------------------------------------------------


def param(name: str) -> dict:
    """A reference to a component parameter."""
    return {"$ref": f"#/components/parameters/{name}"}


def parameter(name: str, where: str, schema: dict, description: str) -> dict:
    """A parameter ``in`` path, query or header; path parameters are required."""
    return {"name": name, "in": where, "required": where == "path",
            "description": description, "schema": schema}


def errors(*statuses: int) -> dict:
    """References to the error responses for ``statuses``."""
    return {str(s): {"$ref": f"#/components/responses/{ERROR_STATUSES[str(s)][0]}"}
            for s in statuses}


def answer(description: str, schema: str) -> dict:
    """A JSON response carrying the component schema ``schema``."""
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def get(endpoint: str, summary: str, schema: str, *, params=(), fails=(), roles: str = "",
        tag: str) -> dict:
    """A GET answering 200 with ``schema``; every one needs a token."""
    return {
        "operationId": endpoint, "summary": summary, "tags": [tag],
        **({"description": f"Roles: {roles}."} if roles else {}),
        "parameters": list(params),
        "responses": {"200": answer("OK", schema), **errors(401, *fails)},
    }


def listing(endpoint: str, summary: str, item: str, *, params=(), fails=(), roles: str = "",
            tag: str) -> dict:
    """A GET of one page of ``item`` objects, taking ``limit`` and ``cursor``."""
    return get(endpoint, summary, f"{item}Page", params=[*params, param("Limit"), param("Cursor")],
               fails=sorted({400, 422, *fails}), roles=roles, tag=tag)


def post(endpoint: str, summary: str, request: str | None, schema: str, *, status: int = 201,
         params=(), roles: str, tag: str) -> dict:
    """A POST: idempotent with a key, one transaction; answers ``status`` with ``schema``.

    ``request`` names the body's schema; None for an action that takes no body.
    """
    ok = answer("Created" if status == 201 else "OK", schema)
    ok["headers"] = {"Idempotent-Replayed": {
        "description": "\"true\" when this is the stored first response to the same key.",
        "schema": string(enum=["true"])}}
    content = ref(request) if request else {"type": "object", "maxProperties": 0}
    return {
        "operationId": endpoint, "summary": summary, "tags": [tag],
        "description": f"Roles: {roles}. Nothing is posted unless it answers {status}.",
        "parameters": [*params, param("IdempotencyKey")],
        "requestBody": {"required": request is not None, "content": {JSON: {"schema": content}}},
        "responses": {str(status): ok,
                      **errors(400, 401, 403, *([404] if params else []), 409, 413, 422)},
    }


def pdf_answer(description: str) -> dict:
    """A 200 carrying a PDF document."""
    return {"description": description, "content": {"application/pdf": {
        "schema": {"type": "string", "contentMediaType": "application/pdf"}}}}


CODE, CASE, ACTIVITY, QUOTE, INVOICE = (param(name) for name in (
    "Code", "CaseNumber", "ActivityId", "QuoteNumber", "InvoiceNumber"))


# --- shared components ----------------------------------------------------------------


def common_schemas() -> dict:
    """Money, currency, percentages, the signed-in user, the error object."""
    return {
        "Money": string("An amount with the currency's decimals, e.g. \"1234.50\"; never a "
                        "number. The currency is given beside it.", pattern=MONEY_PATTERN,
                        examples=["1234.50"]),
        "Currency": string("An ISO 4217 currency code.", pattern="^[A-Z]{3}$", examples=["USD"]),
        "Percent": string("A percentage as a string: \"10\" is 10 %, \"8.25\" is 8.25 %.",
                          pattern=DECIMAL_PATTERN, examples=["8.25"]),
        "Me": obj({"email": string(), "role": choice(ROLES),
                   "client": nullable(string("A client user's client code."))}),
        "Error": obj({"error": obj({"code": choice(ERROR_CODES), "message": string()},
                                   {"field": string("The offending input.")})}),
    }


def page_schema(name: str) -> dict:
    """One page of a list, and the cursor of the next."""
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


def parameters() -> dict:
    """Path parameters, paging, ``as_of`` and the Idempotency-Key header."""
    return {
        "Code": parameter("code", "path", string(pattern=CODE_PATTERN.pattern),
                          "The client's code."),
        "CaseNumber": parameter("number", "path", string(), "The case number, e.g. C-000042."),
        "ActivityId": parameter("activity_id", "path", integer(minimum=1), "The activity's id."),
        "QuoteNumber": parameter("number", "path", string(),
                                 "The quote number, e.g. Q-2026-00012."),
        "InvoiceNumber": parameter("number", "path", string(),
                                   "An invoice or credit-note number, e.g. INV-2026-00042 or "
                                   "CN-2026-00003."),
        "Period": parameter("period", "query", string(pattern=PERIOD_PATTERN),
                            "Only documents of this month, YYYY-MM."),
        "Limit": parameter("limit", "query",
                           integer(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
                           "The most items on one page."),
        "Cursor": parameter("cursor", "query", string(), "The `next` of the previous page."),
        "AsOf": parameter("as_of", "query", day(), "The day to answer for; today (UTC) if absent."),
        "IdempotencyKey": parameter(
            "Idempotency-Key", "header", string(minLength=1, maxLength=MAX_IDEMPOTENCY_KEY),
            "A repeat with the same key and body returns the first response and posts nothing; "
            "the same key with another body is 409 idempotency_conflict."),
    }


def meta_paths() -> dict:
    """This document and the signed-in user."""
    document_response = {"description": "The OpenAPI document.",
                         "content": {JSON: {"schema": {"type": "object"}}}}
    return {
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document; no token needed.",
            "tags": ["meta"], "security": [], "responses": {"200": document_response},
        }},
        "/me": {"get": get("me", "The signed-in user.", "Me", tag="meta")},
    }


# --- clients and the ledger -------------------------------------------------------------


def ledger_schemas() -> dict:
    """Clients, balances and lots, bundles, ledger entries, term closes."""
    code = client_code()
    return {
        "Term": obj({"start": day("First day of the term."), "end": day("Last day of the term.")}),
        "Client": obj({
            "code": code, "name": string(), "currency": ref("Currency"),
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
            "client": code, "as_of": day(),
            "incidents": obj({
                "available": integer(minimum=0), "lots": array(ref("Lot")),
                "overage": integer("Incidents charged beyond the balance this term.", minimum=0),
            }),
            "hours": {"type": "object", "description": "Prepaid professional-service time by role.",
                      "additionalProperties": obj({"available_minutes": integer(minimum=0)})},
        }),
        "Bundle": obj({
            "id": integer(), "client": code, "quantity": integer(minimum=1),
            "unit_price": ref("Money"), "currency": ref("Currency"), "purchased_on": day(),
            "lot": ref("Lot"),
        }),
        "Entry": obj({
            "id": integer(), "posted_at": moment(), "effective_on": day(), "unit": choice(UNITS),
            "quantity": integer("Signed: credits positive, debits negative; incidents or minutes.",
                                **{"not": {"const": 0}}),
            "kind": choice(ENTRY_KINDS), "lot_id": nullable(integer()),
            "activity_id": nullable(integer()), "reverses_id": nullable(integer()),
            "memo": string(),
        }),
        "TermClose": obj({
            "client": code, "term_start": day(), "term_end": day(),
            "rolled_over": integer(minimum=0), "expired": integer(minimum=0),
        }),
        "TermCloseResult": obj({"closed": array(ref("TermClose"))}),
    }


def ledger_bodies() -> dict:
    """New clients, bundle sales, term closes."""
    max_name, _ = _limits()
    return {
        "NewClient": body({
            "code": string(pattern=CODE_PATTERN.pattern), "name": text(max_name),
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
        "TermsClose": body({"as_of": day("Close every term that ended on or before this day; not after today.")},
                           example={"as_of": "2025-12-31"}),
    }


def ledger_paths() -> dict:
    """Clients, balances, entries, bundles, term closes."""
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
            "TermsClose", "TermCloseResult", status=200, roles=FINANCE, tag="ledger")},
    }


# --- support: cases, activities, waivers, work ------------------------------------------


def activity_schema(extra: dict | None = None) -> dict:
    """An activity; appointments add their end and length, waived ones the reason."""
    return obj({
        **(extra or {}),
        "id": integer(), "kind": choice(ACTIVITY_KINDS), "client": client_code(),
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


def support_schemas() -> dict:
    """Cases, activities, work logs."""
    return {
        "Case": obj({
            "number": string(examples=["C-000042"]), "client": client_code(), "subject": string(),
            "severity": choice(SEVERITIES), "opened_at": moment(),
        }),
        "Activity": activity_schema(),
        "Work": activity_schema({
            "role": string("The rate-card role."), "performed_on": day(), "description": string(),
            "billed_minutes": integer("Minutes rounded up to the billing increment.", minimum=1),
            "prepaid_minutes_used": integer("Billed minutes drawn from prepaid hours.", minimum=0),
            "overage_minutes": integer("Billed minutes beyond prepaid hours, invoiced at the "
                                       "role's hourly rate.", minimum=0),
        }),
    }


def support_bodies() -> dict:
    """Cases, the three kinds of support activity, waivers, work."""
    max_name, max_note = _limits()
    note = {"note": nullable(string(maxLength=max_note))}
    return {
        "NewCase": body({
            "subject": text(max_name), "severity": choice(SEVERITIES), "opened_at": moment(),
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
        "Waiver": body({"reason": text(max_note)},
                       example={"reason": "site down caused by our update"}),
        "NewWork": body({
            "role": text(40, "A role code on the rate card."),
            "minutes": integer(minimum=1, maximum=MAX_WORK_MINUTES),
            "performed_on": day(), "description": text(max_note),
        }, {"case": nullable(string("A case number of the same client.", maxLength=20))},
            example={"role": "analyst", "minutes": 95, "performed_on": "2026-03-03",
                     "description": "Data migration workshop"}),
    }


def support_paths() -> dict:
    """Cases, activities, waivers, work."""
    def log(endpoint: str, summary: str, request: str) -> dict:
        return {"post": post(endpoint, summary, request, "Activity", params=[CASE], roles=STAFF,
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


# --- quotes and the rate card ----------------------------------------------------------


def quote_schemas() -> dict:
    """Quotes at the prices of the card version they locked (tax comes on the invoice)."""
    line = obj({"role": string(), "unit": choice(QUOTE_UNITS),
                "quantity": decimal("Hours or days."), "unit_price": ref("Money"),
                "amount": ref("Money")})
    role = obj({"code": string(examples=["analyst"]), "title": string(),
                "hourly": ref("Money"), "daily": ref("Money")})
    tier = obj({"min_hours": integer(minimum=0), "percent": ref("Percent")})
    return {
        "Quote": obj({
            "number": string(examples=["Q-2026-00012"]), "client": client_code(),
            "state": choice(QUOTE_STATES, "An open quote past valid_until reads expired."),
            "valid_until": day(), "rate_card_version": integer(minimum=1), "lines": array(line),
            "hours_total": decimal("Hours in all lines, a day counted as 8."),
            "discount_percent": ref("Percent"),
            "subtotal": ref("Money"), "discount": ref("Money"), "total": ref("Money"),
            "currency": ref("Currency"), "created_at": moment(), "sent_at": nullable(moment()),
            "decided_at": nullable(moment("When it was accepted or declined.")),
        }),
        "RateCard": obj({
            "version": integer(minimum=1), "effective_from": day(), "currency": ref("Currency"),
            "roles": array(role), "incident_price": ref("Money"), "overage_price": ref("Money"),
            "maintenance_fee": ref("Money"),
            "volume_discounts": array(tier, "Discount tiers on the hours bought in one quote."),
        }),
    }


def quote_bodies() -> dict:
    """New quotes and new rate-card versions."""
    role = body({"code": string(pattern=ROLE_CODE.pattern), "title": text(120),
                 "hourly": ref("Money"), "daily": ref("Money")})
    tier = body({"min_hours": integer(minimum=1, maximum=100_000),
                 "percent": number(exclusiveMinimum=0, exclusiveMaximum=100)})
    line = body({"role": text(40, "A role code on the rate card."), "unit": choice(QUOTE_UNITS),
                 "quantity": number("Hours or days, in quarters.", exclusiveMinimum=0,
                                    maximum=int(MAX_QUANTITY), multipleOf=0.25)})
    return {
        "NewQuote": body({
            "lines": array(line, minItems=1, maxItems=MAX_LINES),
            "valid_until": day("The last day it can be accepted; not in the past."),
        }, example={"lines": [{"role": "analyst", "unit": "day", "quantity": 5},
                              {"role": "developer", "unit": "hour", "quantity": "12.5"}],
                    "valid_until": "2099-12-31"}),
        "NewRateCard": body({
            "currency": ref("Currency"), "effective_from": day("The first day it is in force."),
            "incident_price": ref("Money"), "overage_price": ref("Money"),
            "roles": array(role, minItems=1, maxItems=50),
        }, {
            "maintenance_fee": nullable(ref("Money")),
            "volume_discounts": nullable(array(tier, maxItems=20)),
        }, example={
            "currency": "USD", "effective_from": "2027-01-01", "incident_price": "210.00",
            "overage_price": "260.00", "roles": [{"code": "analyst", "title": "Business Analyst",
                                                   "hourly": "160.00", "daily": "1280.00"}],
            "volume_discounts": [{"min_hours": 40, "percent": "5"}],
        }),
    }


def quote_paths() -> dict:
    """Quotes, their PDF and their moves; the rate card."""
    def move(action: str, summary: str, roles: str) -> dict:
        return {"post": post(f"{action}_quote", summary, None, "Quote", status=200,
                             params=[QUOTE], roles=roles, tag="quotes")}

    pdf = pdf_answer("The quote as a PDF.")
    card_params = [
        parameter("currency", "query", {**ref("Currency"), "default": "USD"}, "The currency."),
        parameter("on", "query", day(), "The day; today (UTC) if absent."),
    ]
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
        "/rate-card": {
            "get": get("rate_card", "The rate card in force on a day.", "RateCard",
                       params=card_params, fails=[403, 404, 422],
                       roles="account_manager, finance, admin", tag="rate card"),
            "post": post("create_rate_card", "Publish a new version of a currency's rate card.",
                         "NewRateCard", "RateCard", roles=FINANCE, tag="rate card"),
        },
    }


# --- invoices and credit notes -----------------------------------------------------------

#: who may read invoices, as the operations' descriptions say it
INVOICE_READERS = "finance, client (its own), admin"


def invoice_schemas() -> dict:
    """Invoices and credit notes: issued once, never changed; amounts negative on a credit note."""
    line = obj({
        "position": integer("1, 2, 3 … in print order; a credit note names these.", minimum=1),
        "kind": choice(LINE_KINDS), "description": string(),
        "quantity": decimal("Incidents, hours or 1."),
        "unit_price": ref("Money"), "amount": ref("Money"),
    })
    summary = {
        "number": string("INV-YYYY-NNNNN or CN-YYYY-NNNNN, each series gapless.",
                         examples=["INV-2026-00042"]),
        "kind": choice(DOCUMENT_KINDS), "client": client_code(),
        "period": string("The billed month.", pattern=PERIOD_PATTERN), "issued_on": day(),
        "total": {**ref("Money"), "description": "Subtotal plus tax; negative on a credit note."},
        "currency": ref("Currency"),
    }
    document = {
        **summary,
        "due_on": day(), "tax_rate": ref("Percent"), "lines": array(line),
        "subtotal": ref("Money"),
        "tax": {**ref("Money"), "description": "The client's rate on the subtotal, half-up to the cent."},
        "sha256": nullable(string("Hex SHA-256 of the archived PDF; null until it is rendered.",
                                  pattern="^[0-9a-f]{64}$")),
    }
    correction = {
        "refers_to": string("The number of the invoice it corrects."),
        "reason": string("Why it was issued."),
    }
    return {
        "InvoiceSummary": obj(summary, description="An invoice or a credit note, in a list."),
        "Invoice": obj(document, correction, description="An invoice or a credit note; a credit "
                       "note also carries refers_to and reason."),
        "CreditNote": obj({**document, **correction}, description="A credit note: its own number "
                          "series, negative amounts, and the invoice it corrects."),
        "InvoiceRunResult": obj({
            "issued": array(string(examples=["INV-2026-00042"]), "Numbers issued by this run."),
            "skipped": array(client_code(), "Clients with nothing (more) to bill that month."),
            "failed": array(obj({"client": client_code(), "code": string("The error's code."),
                                 "message": string("Why this client's invoice could not be issued.")}),
                            "Clients that could not be invoiced; every other client was."),
        }),
    }


def invoice_bodies() -> dict:
    """A month's run and a credit note."""
    _, max_note = _limits()
    return {
        "InvoiceRun": body({"period": string("The month, YYYY-MM; it must have begun.",
                                             pattern=PERIOD_PATTERN)},
                           example={"period": "2026-03"}),
        "NewCreditNote": body({"reason": text(max_note)}, {
            "lines": nullable(array(integer(minimum=1, maximum=100_000),
                                    "Positions of the lines to credit; every line if absent. "
                                    "A line is credited at most once.",
                                    minItems=1, maxItems=1000, uniqueItems=True)),
        }, example={"reason": "maintenance billed in error", "lines": [1]}),
    }


def invoice_paths() -> dict:
    """Runs, documents and their PDFs, credit notes, the accounting export."""
    csv = {"description": "One CSV row per invoice and credit-note line: number, kind, issue_date, "
                          "client, description, quantity, unit_price, amount, tax, total, currency, "
                          "refers_to (tax and total are the document's).",
           "content": {"text/csv": {"schema": {"type": "string"}}}}
    period = parameter("period", "query", string(pattern=PERIOD_PATTERN), "The month, YYYY-MM.")
    return {
        "/invoices/run": {"post": post(
            "run_invoices", "Issue the month's invoices (the PDF is rendered on first download); "
            "running a month again issues nothing new.", "InvoiceRun", "InvoiceRunResult",
            status=200, roles=FINANCE, tag="invoices")},
        "/clients/{code}/invoices": {"get": listing(
            "list_invoices", "The client's invoices and credit notes, by number.",
            "InvoiceSummary", params=[CODE, param("Period")], fails=[403, 404],
            roles=INVOICE_READERS, tag="invoices")},
        "/invoices/{number}": {"get": get(
            "get_invoice", "An invoice or credit note with its lines.", "Invoice",
            params=[INVOICE], fails=[403, 404], roles=INVOICE_READERS, tag="invoices")},
        "/invoices/{number}/pdf": {"get": {
            "operationId": "invoice_pdf", "summary": "The archived PDF, byte for byte the same on "
            "every download.", "tags": ["invoices"], "description": f"Roles: {INVOICE_READERS}.",
            "parameters": [INVOICE],
            "responses": {"200": pdf_answer("The invoice or credit note as a PDF."),
                          **errors(401, 403, 404)},
        }},
        "/invoices/{number}/credit-notes": {"post": post(
            "credit_note", "Credit the whole invoice or chosen lines, with a reason.",
            "NewCreditNote", "CreditNote", params=[INVOICE], roles=FINANCE, tag="invoices")},
        "/invoices/export": {"get": {
            "operationId": "export_invoices", "summary": "A month's invoices and credit notes as "
            "CSV for the accounting system.", "tags": ["invoices"],
            "description": f"Roles: {FINANCE}.",
            "parameters": [{**period, "required": True, "example": "2026-03"}],
            "responses": {"200": csv, **errors(401, 403, 422)},
        }},
    }


# --- the document ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI 3.1 document served at ``/api/v1/openapi.json`` (shared: do not mutate)."""
    pages = {f"{name}Page": page_schema(name)
             for name in ("Client", "Case", "Activity", "Entry", "Quote", "InvoiceSummary")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support Ledger API", "version": "1",
            "description": "Incident bundles, cases and support activity, balances and the "
                           "ledger, quotes and the rate card, invoices and credit notes. Money "
                           "is a string beside an ISO 4217 currency; dates are YYYY-MM-DD; "
                           "times are ISO 8601 with an offset.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": tag} for tag in ("clients", "ledger", "support", "quotes",
                                           "rate card", "invoices", "meta")],
        "paths": {**meta_paths(), **ledger_paths(), **support_paths(), **quote_paths(),
                  **invoice_paths()},
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API token from `ledger tokens create EMAIL`."}},
            "schemas": {**common_schemas(), **ledger_schemas(), **support_schemas(),
                        **quote_schemas(), **invoice_schemas(), **pages, **ledger_bodies(),
                        **support_bodies(), **quote_bodies(), **invoice_bodies()},
            "parameters": parameters(),
            "responses": responses(),
        },
    }
