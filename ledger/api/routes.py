"""API views: read the body, call one service, answer JSON."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from flask import current_app, g, request
from sqlalchemy import select

from .. import batch, billing
from ..errors import ValidationError
from ..extensions import db
from ..models import OVERAGE_POLICIES, QUOTE_UNITS, SEVERITIES, Activity, Case, Client, Invoice, Quote, User
from ..money import Money, is_currency
from ..pdf import render_quote_pdf
from ..services import archive, balances, bundles, clients, exports, invoicing, quotes, ratecards, support, terms, work
from . import blueprint, body, json_response, page, page_args, require, writes
from .fields import parse_date
from .openapi import document
from .serialize import (
    activity_json,
    balance_json,
    bundle_json,
    case_json,
    client_json,
    entry_json,
    invoice_json,
    invoice_summary_json,
    quote_json,
    rate_card_json,
    term_close_json,
    work_json,
)

STAFF = ("account_manager", "finance")
#: the largest bundle, note and subject lengths accepted
MAX_NOTE, MAX_NAME = 5000, 200


def today():
    return datetime.now(timezone.utc).date()


def as_of_arg(name: str = "as_of"):
    raw = request.args.get(name)
    return today() if raw is None else parse_date(raw, name)


@blueprint.get("/openapi.json")
def openapi():
    return json_response(document())


# --- clients -----------------------------------------------------------------------


@blueprint.post("/clients")
@writes
def create_client():
    require("account_manager")
    data = body()
    currency = data.text("currency", max_length=3)
    fields = dict(
        code=data.text("code", max_length=32),
        name=data.text("name", max_length=MAX_NAME),
        currency=currency,
        locale=data.text("locale", max_length=20),
        tax_rate=data.decimal("tax_rate"),
        term_start=data.date("term_start"),
        maintenance_fee=_fee(data, currency),
        overage_policy=data.choice("overage_policy", OVERAGE_POLICIES, default="bill"),
        address=data.text("address", required=False, max_length=1000),
    )
    data.done()
    client = clients.create_client(db.session, **fields)
    return json_response(client_json(client, today()), 201)


def _fee(data, currency: str):
    """maintenance_fee, read only once the currency is known to be real."""
    if not is_currency(currency):
        raise ValidationError(f"{currency!r} is not an ISO 4217 currency code", "currency")
    return data.money("maintenance_fee", currency, required=False)


@blueprint.get("/clients")
def list_clients():
    after, limit = page_args()
    statement = clients.visible_clients(g.user).where(Client.id > after)
    rows = db.session.scalars(statement.order_by(None).order_by(Client.id).limit(limit)).all()
    return json_response(page(rows, limit, lambda c: client_json(c, today())))


@blueprint.get("/clients/<code>")
def get_client(code: str):
    client = clients.find_client(db.session, code, g.user)
    return json_response(client_json(client, today()))


@blueprint.get("/clients/<code>/balance")
def get_balance(code: str):
    client = clients.find_client(db.session, code, g.user)
    return json_response(balance_json(client, balances.balance(db.session, client, as_of_arg())))


@blueprint.get("/clients/<code>/entries")
def list_entries(code: str):
    client = clients.find_client(db.session, code, g.user)
    after, limit = page_args()
    start = parse_date(request.args["from"], "from") if "from" in request.args else None
    end = parse_date(request.args["to"], "to") if "to" in request.args else None
    rows = balances.entries(db.session, client, start=start, end=end, after_id=after, limit=limit)
    return json_response(page(rows, limit, entry_json))


@blueprint.post("/clients/<code>/bundles")
@writes
def buy_bundle(code: str):
    client = clients.find_client(db.session, code, g.user)
    require("account_manager")
    data = body()
    fields = dict(
        quantity=data.integer("quantity", minimum=1, maximum=bundles.MAX_BUNDLE),
        purchased_on=data.date("purchased_on"),
        unit_price=data.money("unit_price", client.currency, required=False),
        user=g.user,
    )
    data.done()
    bundle = bundles.buy_bundle(db.session, client, **fields)
    return json_response(bundle_json(bundle), 201)


# --- cases and activities ----------------------------------------------------------


@blueprint.post("/clients/<code>/cases")
@writes
def open_case(code: str):
    client = clients.find_client(db.session, code, g.user)
    require("account_manager")
    data = body()
    fields = dict(
        subject=data.text("subject", max_length=MAX_NAME),
        severity=data.choice("severity", SEVERITIES),
        opened_at=data.datetime("opened_at"),
        user=g.user,
    )
    data.done()
    case = support.open_case(db.session, client, **fields)
    return json_response(case_json(case), 201)


@blueprint.get("/clients/<code>/cases")
def list_cases(code: str):
    client = clients.find_client(db.session, code, g.user)
    after, limit = page_args()
    rows = db.session.scalars(
        select(Case).where(Case.client_id == client.id, Case.id > after).order_by(Case.id).limit(limit)
    ).all()
    return json_response(page(rows, limit, case_json))


@blueprint.get("/cases/<number>")
def get_case(number: str):
    return json_response(case_json(support.find_case(db.session, number, g.user)))


@blueprint.get("/cases/<number>/activities")
def list_activities(number: str):
    case = support.find_case(db.session, number, g.user)
    after, limit = page_args()
    rows = db.session.scalars(
        select(Activity).where(Activity.case_id == case.id, Activity.id > after)
        .order_by(Activity.id).limit(limit)
    ).all()
    return json_response(page(rows, limit, activity_json))


@blueprint.post("/cases/<number>/helpdesk-answers")
@writes
def log_helpdesk_answer(number: str):
    case = support.find_case(db.session, number, g.user)
    require("account_manager")
    data = body()
    fields = dict(
        answered_at=data.datetime("answered_at"),
        by=data.text("by", max_length=120),
        note=data.text("note", required=False, max_length=MAX_NOTE),
        user=g.user,
    )
    data.done()
    activity = support.log_helpdesk_answer(db.session, case, **fields)
    return json_response(activity_json(activity), 201)


@blueprint.post("/cases/<number>/responses")
@writes
def log_response(number: str):
    case = support.find_case(db.session, number, g.user)
    require("account_manager")
    data = body()
    fields = dict(
        responded_at=data.datetime("responded_at"),
        technician=data.text("technician", max_length=120),
        note=data.text("note", required=False, max_length=MAX_NOTE),
        user=g.user,
    )
    data.done()
    activity = support.log_technician_response(db.session, case, **fields)
    return json_response(activity_json(activity), 201)


@blueprint.post("/cases/<number>/appointments")
@writes
def log_appointment(number: str):
    case = support.find_case(db.session, number, g.user)
    require("account_manager")
    data = body()
    fields = dict(
        started_at=data.datetime("started_at"),
        ended_at=data.datetime("ended_at"),
        technician=data.text("technician", max_length=120),
        note=data.text("note", required=False, max_length=MAX_NOTE),
        user=g.user,
    )
    data.done()
    activity = support.log_appointment(db.session, case, **fields)
    return json_response(activity_json(activity), 201)


@blueprint.get("/activities/<int:activity_id>")
def get_activity(activity_id: int):
    return json_response(activity_json(support.find_activity(db.session, activity_id, g.user)))


@blueprint.post("/activities/<int:activity_id>/waive")
@writes
def waive(activity_id: int):
    activity = support.find_activity(db.session, activity_id, g.user)
    require("account_manager")
    data = body()
    reason = data.text("reason", max_length=MAX_NOTE)
    data.done()
    activity = support.waive(db.session, activity, reason, user=g.user)
    return json_response(activity_json(activity), 201)


# --- terms and the rate card -------------------------------------------------------


@blueprint.post("/terms/close")
@writes
def close_terms():
    require("finance")
    data = body()
    as_of = data.date("as_of")
    data.done()
    closed = terms.close_terms(db.session, as_of, today(), user=g.user)
    codes = dict(db.session.execute(select(Client.id, Client.code)).all())
    return json_response({"closed": [term_close_json(r, codes[r.client_id]) for r in closed]})


@blueprint.get("/rate-card")
def rate_card():
    require(*STAFF)
    currency = request.args.get("currency", current_app.config["HOME_CURRENCY"])
    card = ratecards.card_in_force(db.session, currency, as_of_arg("on"))
    return json_response(rate_card_json(card))


@blueprint.get("/me")
def me():
    user: User = g.user
    return json_response({
        "email": user.email,
        "role": user.role,
        "client": user.client.code if user.client else None,
    })


@blueprint.post("/rate-card")
@writes
def create_rate_card():
    require("finance")
    data = body()
    currency = data.text("currency", max_length=3)
    if not is_currency(currency):
        raise ValidationError(f"{currency!r} is not an ISO 4217 currency code", "currency")
    fields = dict(
        effective_from=data.date("effective_from"),
        incident_price=data.money("incident_price", currency).amount,
        overage_price=data.money("overage_price", currency).amount,
        maintenance_fee=_amount_or_zero(data.money("maintenance_fee", currency, required=False)),
        roles=_card_roles(data, currency),
        discounts=_card_discounts(data),
    )
    data.done()
    card = ratecards.create_rate_card(db.session, currency, **fields)
    return json_response(rate_card_json(card), 201)


def _amount_or_zero(money: Money | None) -> Decimal:
    return money.amount if money is not None else Decimal(0)


def _card_roles(data, currency: str) -> list[tuple]:
    rows = data.items("roles", maximum=50)
    roles = []
    for index, row in enumerate(rows):
        where = f"roles[{index}]"
        code = row.text("code", max_length=40)
        if not ratecards.ROLE_CODE.match(code):
            raise ValidationError("a role code is lower-case letters, digits and '_'", f"{where}.code")
        roles.append((code, row.text("title", max_length=120), row.money("hourly", currency).amount,
                      row.money("daily", currency).amount))
        row.done()
    if not roles or len({r[0] for r in roles}) != len(roles):
        raise ValidationError("roles must name at least one role, each once", "roles")
    return roles


def _card_discounts(data) -> list[tuple]:
    tiers = []
    for row in data.items("volume_discounts", maximum=20, required=False):
        min_hours = row.integer("min_hours", minimum=1, maximum=100_000)
        percent = row.decimal("percent")
        if not 0 < percent < 100:
            raise ValidationError("percent is between 0 and 100", f"{row.prefix}.percent")
        row.done()
        tiers.append((min_hours, percent))
    if len({t[0] for t in tiers}) != len(tiers):
        raise ValidationError("each min_hours tier appears once", "volume_discounts")
    return tiers


# --- quotes and work ---------------------------------------------------------------


@blueprint.post("/clients/<code>/quotes")
@writes
def create_quote(code: str):
    client = clients.find_client(db.session, code, g.user)
    require("account_manager")
    data = body()
    lines = []
    for row in data.items("lines", maximum=quotes.MAX_LINES):
        lines.append(billing.QuoteLineRequest(
            role=row.text("role", max_length=40),
            unit=row.choice("unit", QUOTE_UNITS),
            quantity=row.quarter("quantity", maximum=quotes.MAX_QUANTITY),
        ))
        row.done()
    valid_until = data.date("valid_until")
    data.done()
    quote = quotes.create_quote(db.session, client, lines, valid_until, today(), user=g.user)
    return json_response(quote_json(quote, today()), 201)


@blueprint.get("/clients/<code>/quotes")
def list_quotes(code: str):
    client = clients.find_client(db.session, code, g.user)
    after, limit = page_args()
    rows = db.session.scalars(
        quotes.visible_quotes(g.user).where(Quote.client_id == client.id, Quote.id > after)
        .order_by(Quote.id).limit(limit)
    ).all()
    return json_response(page(rows, limit, lambda q: quote_json(q, today())))


@blueprint.get("/quotes/<number>")
def get_quote(number: str):
    return json_response(quote_json(quotes.find_quote(db.session, number, g.user), today()))


@blueprint.get("/quotes/<number>/pdf")
def quote_pdf(number: str):
    quote = quotes.find_quote(db.session, number, g.user)
    pdf = render_quote_pdf(quote, today())
    return current_app.response_class(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{quote.number}.pdf"'})


QUOTE_ACTIONS = {
    "send": (quotes.send_quote, ("account_manager",)),
    "accept": (quotes.accept_quote, ("account_manager", "finance", "client")),
    "decline": (quotes.decline_quote, ("account_manager", "client")),
}


@blueprint.post("/quotes/<number>/<any(send, accept, decline):action>")
@writes
def move_quote(number: str, action: str):
    quote = quotes.find_quote(db.session, number, g.user)
    move, roles = QUOTE_ACTIONS[action]
    require(*roles)
    body().done()
    return json_response(quote_json(move(db.session, quote, today(), user=g.user), today()))


@blueprint.post("/clients/<code>/work")
@writes
def log_work(code: str):
    client = clients.find_client(db.session, code, g.user)
    require("account_manager")
    data = body()
    case_number = data.text("case", required=False, max_length=20)
    fields = dict(
        role=data.text("role", max_length=40),
        minutes=data.integer("minutes", minimum=1, maximum=work.MAX_WORK_MINUTES),
        performed_on=data.date("performed_on"),
        description=data.text("description", max_length=MAX_NOTE),
        user=g.user,
    )
    data.done()
    case = None
    if case_number:
        case = db.session.scalar(select(Case).where(Case.number == case_number, Case.client_id == client.id))
        if case is None:
            raise ValidationError(f"no case {case_number!r} for this client", "case")
    result = work.log_work(db.session, client, case=case, **fields)
    return json_response(work_json(result.activity, result.prepaid_minutes_used, result.overage_minutes), 201)


# --- invoices ----------------------------------------------------------------------


@blueprint.post("/invoices/run")
def run_invoices():
    require("finance")
    data = body()
    period = billing.Period.parse(data.text("period", max_length=7))
    data.done()
    result = batch.run(current_app._get_current_object(), period, today(), user=g.user)
    db.session.rollback()  # the run committed in its own session: end this one's older snapshot
    return json_response({"issued": result.issued, "skipped": result.skipped,
                          "failed": [failure.as_json() for failure in result.failed]})


@blueprint.get("/clients/<code>/invoices")
def list_invoices(code: str):
    client = clients.find_client(db.session, code, g.user)
    require("finance", "client")
    after, limit = page_args()
    statement = select(Invoice).where(Invoice.client_id == client.id, Invoice.id > after)
    if "period" in request.args:
        statement = statement.where(Invoice.period == _period_arg())
    rows = db.session.scalars(statement.order_by(Invoice.id).limit(limit)).all()
    return json_response(page(rows, limit, invoice_summary_json))


def _period_arg() -> str:
    return str(billing.Period.parse(request.args["period"]))


@blueprint.get("/invoices/<number>")
def get_invoice(number: str):
    invoice = invoicing.find_invoice(db.session, number, g.user)
    require("finance", "client")
    return json_response(invoice_json(invoice))


@blueprint.get("/invoices/<number>/pdf")
def invoice_pdf(number: str):
    invoice = invoicing.find_invoice(db.session, number, g.user)
    require("finance", "client")
    data = archive.read_pdf(db.session, invoice, Path(current_app.config["INVOICE_DIR"]))
    return current_app.response_class(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'})


@blueprint.post("/invoices/<number>/credit-notes")
@writes
def credit_note(number: str):
    invoice = invoicing.find_invoice(db.session, number, g.user)
    require("finance")
    data = body()
    reason = data.text("reason", max_length=MAX_NOTE)
    positions = data.positions("lines")
    data.done()
    note = invoicing.issue_credit_note(db.session, invoice, reason, positions, today(), user=g.user,
                                       archive_config=current_app.config)
    return json_response(invoice_json(note), 201)


@blueprint.get("/invoices/export")
def export_invoices():
    require("finance")
    if "period" not in request.args:
        raise ValidationError("period is required, YYYY-MM", "period")
    period = _period_arg()
    return current_app.response_class(exports.export_csv(db.session, period), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="invoices-{period}.csv"'})
