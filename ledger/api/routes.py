"""API views: read the body model, call one service, return the response model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import wraps
from typing import Literal

from flask import current_app, g, request
from pydantic import BaseModel
from sqlalchemy import select

from .. import batch, billing, storage
from ..errors import ValidationError
from ..extensions import db
from ..models import Activity, Case, Client, Invoice, Payment, Quote
from ..pdf import render_quote_pdf
from ..services import (
    archive,
    balances,
    bundles,
    clients,
    einvoicing,
    exports,
    invoicing,
    payments,
    quotes,
    ratecards,
    receivables,
    sla,
    support,
    terms,
    vendor,
    work,
)
from . import blueprint, json_response, listing, page, page_args, query_arg, read, require, writes
from . import schemas as s
from .openapi import OPERATIONS, RULE_ARGUMENT, WRITES, Operation, document, query

#: the roles that may call an operation besides admin, who may do everything
STAFF = ("account_manager",)
FINANCE = ("finance",)
INVOICE_READERS = ("finance", "client")
MANAGERS = ("account_manager", "finance")


def today():
    return datetime.now(UTC).date()


def _file(data, mimetype: str, filename: str, disposition: str = "attachment"):
    """A download named ``filename`` (``inline`` to open in the browser)."""
    return current_app.response_class(data, mimetype=mimetype, headers={
        "Content-Disposition": f'{disposition}; filename="{filename}"'})


#: the month an operation needs, read by :func:`_required_period`; the month a listing may keep to
MONTH = query("period", s.Period, "The month.", required=True, example="2026-03")
IN_MONTH = query("period", s.Period, "Only documents of this month.")


def _required_period():
    """The ``period`` query parameter, which the operation needs."""
    if "period" not in request.args:
        raise ValidationError("period is required, YYYY-MM", "period")
    return query_arg("period", s.Period)


def _described(roles: tuple[str, ...]) -> str:
    """``roles`` as the document names them: a client user acts on its own client only."""
    return ", ".join([*(f"{role} (its own)" if role == "client" else role for role in roles), "admin"])


def api(method: str, rule: str, answer, summary: str, *, tag: str, status: int = 200, batch: bool = False,
        load=None, roles: tuple[str, ...] | None = None, roles_text: str | None = None,
        body: type[BaseModel] | None = None, **doc):
    """Serve a view at ``rule`` and describe it; a POST is one transaction; a model answer is JSON.

    The view is called with the row the path names (``load(session, key, user)`` with the rule's first
    argument), after a check that the user has one of ``roles``, then the request's ``body``: in that
    order, so a missing row is 404 before a refused role's 403, and both before a bad body's 422.
    ``roles_text`` documents the roles of a view that checks them itself.
    ``batch=True`` marks a POST that runs a batch committing its own units of work (the month's
    run): it takes no request-wide lock, which on SQLite would block the batch's own sessions.
    """
    key = RULE_ARGUMENT.search(rule)["name"] if load is not None else None
    if roles is not None or roles_text:
        doc["roles"] = roles_text or _described(roles)

    def register(view):
        OPERATIONS.append(Operation(method=method, rule=rule, endpoint=view.__name__, summary=summary,
                                    tag=tag, answer=answer, status=status, body=body, **doc))

        @wraps(view)
        def handle(**kwargs):
            given = []
            if load is not None:
                given.append(load(db.session, kwargs.pop(key), g.user))
            if roles is not None:
                require(*roles)
            if body is not None:
                given.append(read(body))
            result = view(*given, **kwargs)
            if isinstance(result, BaseModel):
                return json_response(result.model_dump(mode="json", exclude_unset=True), status)
            return result

        blueprint.add_url_rule(rule, view.__name__, writes(handle) if method in WRITES and not batch else handle,
                               methods=[method])
        return view

    return register


@blueprint.get("/openapi.json")
def openapi():
    return json_response(document())


@api("GET", "/me", s.Me, "The signed-in user.", tag="meta")
def me():
    return s.Me.of(g.user)


# --- clients and the ledger --------------------------------------------------------


@api("POST", "/clients", s.Client, "Create a client.", tag="clients", status=201, body=s.NewClient,
     roles=STAFF)
def create_client(data: s.NewClient):
    if data.tax_rate is None and not data.taxes:
        raise ValidationError("tax_rate is required unless taxes are given", "tax_rate")
    fee = s.in_currency(data.maintenance_fee, data.currency, "maintenance_fee")
    fields = {name: getattr(data, name) for name in ("code", "name", "currency", "locale", "term_start",
                                                      "overage_policy")}
    client = clients.create_client(db.session, **fields, tax_rate=data.tax_rate or Decimal(0),
                                   maintenance_fee=fee, address=data.address or "", time_zone=data.time_zone)
    vendor.set_client_billing(db.session, client, **data.billing())
    if data.support_plan is not None:
        sla.set_client_plan(db.session, client, data.support_plan)
        if data.time_zone is None:  # the zone follows the plan it was created on
            client.time_zone = clients.default_time_zone(db.session, client)
    return s.Client.of(client, today=today())


@api("GET", "/clients", s.Client, "Clients the user may see, by id.", tag="clients", page=True)
def list_clients():
    return listing(s.Client, clients.visible_clients(g.user), Client, today=today())


@api("GET", "/clients/<code>", s.Client, "A client, with its current term.", tag="clients",
     load=clients.find_client)
def get_client(client):
    return s.Client.of(client, today=today())


@api("PATCH", "/clients/<code>", s.Client, "Change any of a client's billing fields or its support plan; issued invoices keep "
     "what they printed.", tag="clients", load=clients.find_client, roles=MANAGERS, body=s.ClientChanges)
def change_client(client, data: s.ClientChanges):
    if data.tax_rate is not None and data.taxes is not None:
        raise ValidationError("give tax_rate or taxes, not both: tax_rate is the taxes' sum", "tax_rate")
    fields = {name: getattr(data, name) for name in ("name", "address", "locale", "tax_rate", "overage_policy",
                                                      "time_zone") if getattr(data, name) is not None}
    fee = s.in_currency(data.maintenance_fee, client.currency, "maintenance_fee")
    clients.update_client(db.session, client, **fields, **({"maintenance_fee": fee} if fee else {}))
    vendor.set_client_billing(db.session, client, **data.billing())
    if data.support_plan is not None:
        sla.set_client_plan(db.session, client, data.support_plan)
    return s.Client.of(client, today=today())


@api("GET", "/clients/<code>/balance", s.Balance, "Incidents by lot, overage and prepaid minutes on a day.",
     tag="ledger", load=clients.find_client,
     query=(query("as_of", s.Day, "The day to answer for; today (UTC) if absent."),))
def get_balance(client):
    return s.Balance.of(balances.balance(db.session, client, query_arg("as_of", s.Day, today())), client=client)


@api("GET", "/clients/<code>/entries", s.Entry, "The client's ledger entries, oldest first.", tag="ledger",
     load=clients.find_client, page=True,
     query=(query("from", s.Day, "Entries effective on or after this day."),
            query("to", s.Day, "Entries effective on or before this day.")))
def list_entries(client):
    after, limit = page_args()
    rows = balances.entries(db.session, client, start=query_arg("from", s.Day), end=query_arg("to", s.Day),
                            after_id=after, limit=limit)
    return page(rows, limit, s.Entry)


@api("POST", "/clients/<code>/bundles", s.Bundle, "Sell a bundle of incidents: a lot expiring at the end "
     "of the term.", tag="ledger", status=201, load=clients.find_client, roles=STAFF, body=s.NewBundle)
def buy_bundle(client, data: s.NewBundle):
    bundle = bundles.buy_bundle(db.session, client, quantity=data.quantity, purchased_on=data.purchased_on,
                                unit_price=s.in_currency(data.unit_price, client.currency, "unit_price"),
                                user=g.user)
    return s.Bundle.of(bundle)


@api("POST", "/terms/close", s.TermCloseResult, "Close every term ended by a day: rollover and expiry; "
     "idempotent.", tag="ledger", roles=FINANCE, body=s.TermsClose)
def close_terms(data: s.TermsClose):
    closed = terms.close_terms(db.session, data.as_of, today(), user=g.user)
    codes = dict(db.session.execute(select(Client.id, Client.code)).all())
    return s.TermCloseResult(closed=[s.TermClose.of(record, codes=codes) for record in closed])


# --- the vendor ---------------------------------------------------------------------


@api("GET", "/vendor", s.Vendor, "The vendor's profile, as invoices print it.", tag="vendor", roles=MANAGERS)
def get_vendor():
    return s.Vendor.of(vendor.get_vendor(db.session))


@api("PUT", "/vendor", s.Vendor, "Set the vendor's profile; invoices issued later print it.", tag="vendor",
     roles=(), body=s.VendorProfile)
def put_vendor(data: s.VendorProfile):
    fields = {name: value or "" for name, value in dict(data).items()}
    return s.Vendor.of(vendor.update_vendor(db.session, **fields))


# --- cases and activities ----------------------------------------------------------


@api("POST", "/clients/<code>/cases", s.Case, "Open a case: the plan's clocks start.", tag="support",
     status=201, load=clients.find_client, roles=("account_manager", "client"), body=s.NewCase)
def open_case(client, data: s.NewCase):
    return s.Case.of(support.open_case(db.session, client, **dict(data), user=g.user))


@api("GET", "/clients/<code>/cases", s.Case, "The client's cases.", tag="support", page=True,
     load=clients.find_client)
def list_cases(client):
    return listing(s.Case, select(Case).where(Case.client_id == client.id), Case)


@api("GET", "/cases/<number>", s.Case, "A case.", tag="support", load=support.find_case)
def get_case(case):
    return s.Case.of(case)


@api("POST", "/cases/<number>/status", s.Case, "Move a case along its lifecycle; waiting on the customer "
     "pauses the resolve clock.", tag="support", load=support.find_case, roles=STAFF, body=s.StatusChange)
def change_case_status(case, data: s.StatusChange):
    return s.Case.of(sla.change_status(db.session, case, data.status, data.at, data.resolution, user=g.user))


@api("GET", "/support-plans", s.SupportPlans, "The support plans as the versions in force today describe "
     "them.", tag="support")
def list_support_plans():
    return s.SupportPlans(items=[s.SupportPlan.of(terms) for terms in sla.list_plans(db.session, today())])


@api("POST", "/support-plans", s.SupportPlan, "Add a support plan, or a new version of one in force from a "
     "later day.", tag="support", status=201, roles=FINANCE, body=s.NewSupportPlan)
def create_support_plan(data: s.NewSupportPlan):
    return s.SupportPlan.of(sla.terms_of(sla.add_plan_version(db.session, **data.plan_fields())))


@api("GET", "/clients/<code>/sla-report", s.SlaReport, "Service levels of the cases opened in a month: "
     "targets met and breached per severity.", tag="support", load=clients.find_client, query=(MONTH,))
def sla_report(client):
    return s.SlaReport.of(sla.sla_report(db.session, client, _required_period()))


@api("GET", "/cases/<number>/activities", s.Activity, "What support did on a case.", tag="support", page=True,
     load=support.find_case)
def list_activities(case):
    return listing(s.Activity, select(Activity).where(Activity.case_id == case.id), Activity)


def _with_note(data: BaseModel) -> dict:
    """The body's fields as the services take them: an absent note is empty."""
    return {**dict(data), "note": data.note or ""}


@api("POST", "/cases/<number>/helpdesk-answers", s.Activity, "Log an immediate help-desk answer "
     "(charges 0).", tag="support", status=201, load=support.find_case_to_charge, roles=STAFF,
     body=s.HelpdeskAnswer)
def log_helpdesk_answer(case, data: s.HelpdeskAnswer):
    return s.Activity.of(support.log_helpdesk_answer(db.session, case, **_with_note(data), user=g.user))


@api("POST", "/cases/<number>/responses", s.Activity, "Log a technician response (the first on a case "
     "charges 1).", tag="support", status=201, load=support.find_case_to_charge, roles=STAFF,
     body=s.TechnicianResponse)
def log_response(case, data: s.TechnicianResponse):
    return s.Activity.of(support.log_technician_response(db.session, case, **_with_note(data), user=g.user))


@api("POST", "/cases/<number>/appointments", s.Activity, "Log a concluded appointment (2 incidents for the "
     "first hour, then 1 per further 30 minutes).", tag="support", status=201,
     load=support.find_case_to_charge, roles=STAFF, body=s.Appointment)
def log_appointment(case, data: s.Appointment):
    return s.Activity.of(support.log_appointment(db.session, case, **_with_note(data), user=g.user))


@api("GET", "/activities/<int:activity_id>", s.Activity, "An activity with its entries.", tag="support",
     load=support.find_activity)
def get_activity(activity):
    return s.Activity.of(activity)


@api("POST", "/activities/<int:activity_id>/waive", s.Activity, "Waive an activity's charge with a written "
     "reason.", tag="support", status=201, load=support.find_activity, roles=STAFF, body=s.Waiver)
def waive(activity, data: s.Waiver):
    return s.Activity.of(support.waive(db.session, activity, data.reason, user=g.user))


@api("POST", "/clients/<code>/work", s.Work, "Log professional-service work, drawn from the role's prepaid "
     "hours.", tag="support", status=201, load=clients.find_client, roles=STAFF, body=s.NewWork)
def log_work(client, data: s.NewWork):
    case = None
    if data.case:
        case = db.session.scalar(select(Case).where(Case.number == data.case, Case.client_id == client.id))
        if case is None:
            raise ValidationError(f"no case {data.case!r} for this client", "case")
    return s.Work.of(work.log_work(db.session, client, **{**dict(data), "case": case}, user=g.user))


# --- the rate card -----------------------------------------------------------------


@api("GET", "/rate-card", s.RateCard, "The rate card in force on a day.", tag="rate card", roles=MANAGERS,
     fails=(404,), query=(query("currency", s.Currency, "The currency; USD if absent."),
                          query("on", s.Day, "The day; today (UTC) if absent.")))
def rate_card():
    currency = request.args.get("currency", current_app.config["HOME_CURRENCY"])
    return s.RateCard.of(ratecards.card_in_force(db.session, currency, query_arg("on", s.Day, today())))


@api("POST", "/rate-card", s.RateCard, "Publish a new version of a currency's rate card.", tag="rate card",
     status=201, roles=FINANCE, body=s.NewRateCard)
def create_rate_card(data: s.NewRateCard):
    card = ratecards.create_rate_card(
        db.session, data.currency, effective_from=data.effective_from, incident_price=data.incident_price,
        overage_price=data.overage_price, maintenance_fee=data.maintenance_fee or Decimal(0),
        roles=[(r.code, r.title, r.hourly, r.daily) for r in data.roles],
        discounts=[(t.min_hours, t.percent) for t in data.volume_discounts or ()])
    return s.RateCard.of(card)


# --- quotes ------------------------------------------------------------------------


@api("POST", "/clients/<code>/quotes", s.Quote, "Write a draft quote at today's rate card.", tag="quotes",
     status=201, load=clients.find_client, roles=STAFF, body=s.NewQuote)
def create_quote(client, data: s.NewQuote):
    quote = quotes.create_quote(db.session, client, data.requests(), data.valid_until, today(), user=g.user)
    return s.Quote.of(quote, today=today())


@api("GET", "/clients/<code>/quotes", s.Quote, "The client's quotes (a client user sees no drafts).",
     tag="quotes", page=True, load=clients.find_client)
def list_quotes(client):
    statement = quotes.visible_quotes(g.user).where(Quote.client_id == client.id)
    return listing(s.Quote, statement, Quote, today=today())


@api("GET", "/quotes/<number>", s.Quote, "A quote.", tag="quotes", load=quotes.find_quote)
def get_quote(quote):
    return s.Quote.of(quote, today=today())


@api("GET", "/quotes/<number>/pdf", "application/pdf", "A quote as a PDF.", tag="quotes",
     load=quotes.find_quote)
def quote_pdf(quote):
    return _file(render_quote_pdf(quote, today()), "application/pdf", f"{quote.number}.pdf", "inline")


QUOTE_ACTIONS = {
    "send": (quotes.send_quote, ("account_manager",)),
    "accept": (quotes.accept_quote, ("account_manager", "finance", "client")),
    "decline": (quotes.decline_quote, ("account_manager", "client")),
}


@api("POST", "/quotes/<number>/<any(send, accept, decline):action>", s.Quote, "Send a draft quote; accept "
     "a sent one (prepaid hours per role, billed on the next invoice) or decline it.", tag="quotes",
     load=quotes.find_quote,
     roles_text="account_manager, finance (accept), client (its own: accept, decline), admin")
def move_quote(quote, action: str):
    move, roles = QUOTE_ACTIONS[action]
    require(*roles)
    read(s.Empty)
    return s.Quote.of(move(db.session, quote, today(), user=g.user), today=today())


# --- invoices ----------------------------------------------------------------------


@api("POST", "/invoices/run", s.InvoiceRunResult, "Issue the month's invoices; running a month again "
     "issues nothing new; every issued invoice is archived when it answers.", tag="invoices",
     roles=FINANCE, body=s.InvoiceRun, batch=True)
def run_invoices(data: s.InvoiceRun):
    result = batch.run(current_app._get_current_object(), data.period, today(), user=g.user)
    db.session.rollback()  # the run committed in sessions of its own: end this one's older snapshot
    return s.InvoiceRunResult(issued=result.issued, skipped=result.skipped, failed=result.failed)


@api("GET", "/clients/<code>/invoices", s.InvoiceSummary, "The client's invoices and credit notes, by "
     "number.", tag="invoices", page=True, load=clients.find_client, roles=INVOICE_READERS, query=(IN_MONTH,))
def list_invoices(client):
    statement = select(Invoice).where(Invoice.client_id == client.id)
    if "period" in request.args:
        statement = statement.where(Invoice.period == query_arg("period", s.Period))
    return listing(s.InvoiceSummary, statement, Invoice)


@api("GET", "/invoices/<number>", s.Invoice, "An invoice or credit note with its lines.", tag="invoices",
     load=invoicing.find_invoice, roles=INVOICE_READERS)
def get_invoice(invoice):
    return s.Invoice.of(invoice, today=today())


@api("GET", "/invoices/<number>/pdf", "application/pdf", "The archived PDF, byte for byte the same on every "
     "download.", tag="invoices", load=invoicing.find_invoice, roles=INVOICE_READERS)
def invoice_pdf(invoice):
    data = archive.read_pdf(db.session, invoice, storage.for_config(current_app.config))
    return _file(data, "application/pdf", f"{invoice.number}.pdf")


@api("GET", "/invoices/<number>/xml", "application/xml", "The Factur-X (CII, EN 16931) XML, byte for byte "
     "the factur-x.xml embedded in the PDF.", tag="invoices", load=invoicing.find_invoice,
     roles=INVOICE_READERS)
def invoice_xml(invoice):
    return _file(einvoicing.invoice_xml(invoice), "application/xml", f"{invoice.number}-factur-x.xml")


@api("GET", "/invoices/<number>/ubl", "application/xml", "The same document as UBL 2.1 (Peppol BIS "
     "Billing 3.0).", tag="invoices", load=invoicing.find_invoice, roles=INVOICE_READERS)
def invoice_ubl(invoice):
    return _file(einvoicing.invoice_ubl(invoice), "application/xml", f"{invoice.number}-ubl.xml")


@api("POST", "/invoices/<number>/credit-notes", s.Invoice, "Credit the whole invoice or chosen lines, with "
     "a reason.", tag="invoices", status=201, load=invoicing.find_invoice, roles=FINANCE,
     body=s.NewCreditNote)
def credit_note(invoice, data: s.NewCreditNote):
    note = invoicing.issue_credit_note(db.session, invoice, data.reason, data.lines, today(), user=g.user,
                                       archive_config=current_app.config)
    return s.Invoice.of(note, today=today())


# --- payments and receivables --------------------------------------------------------


@api("GET", "/invoices", s.InvoiceSummary, "Invoices and credit notes across clients, by number of issue; "
     "filtered by derived status, month or client.", tag="invoices", page=True, roles=FINANCE, fails=(404,),
     query=(query("status", Literal[billing.INVOICE_STATUSES], "Only documents standing so today."),
            IN_MONTH,
            query("client", str, "Only this client's documents (its code).")))
def list_all_invoices():
    client = clients.find_client(db.session, request.args["client"], g.user) if "client" in request.args else None
    after, limit = page_args()
    rows, standings = receivables.find_documents(
        db.session, status=query_arg("status", Literal[billing.INVOICE_STATUSES]),
        period=query_arg("period", s.Period), client=client, after=after, limit=limit, today=today())
    return page(rows, limit, s.InvoiceSummary, today=today(), standings=standings)


@api("POST", "/invoices/<number>/payments", s.Payment, "Record a payment received for an invoice; more than "
     "the amount due is refused.", tag="invoices", status=201, load=invoicing.find_invoice, roles=FINANCE,
     body=s.NewPayment, fails=(409,))
def record_payment(invoice, data: s.NewPayment):
    payment = payments.record_payment(db.session, invoice, data.amount, data.paid_on, data.method, data.reference,
                                      g.user, today=today())
    return s.Payment.of(payment)


@api("GET", "/invoices/<number>/payments", s.Payment, "An invoice's payments and reversals, in the order "
     "recorded.", tag="invoices", page=True, load=invoicing.find_invoice, roles=INVOICE_READERS)
def list_payments(invoice):
    return listing(s.Payment, select(Payment).where(Payment.invoice_id == invoice.id), Payment)


@api("GET", "/invoices/export", "text/csv", "A month's invoices and credit notes as CSV for the accounting "
     "system.", tag="invoices", roles=FINANCE, query=(MONTH,))
def export_invoices():
    period = _required_period()
    return _file(exports.export_csv(db.session, period), "text/csv", f"invoices-{period}.csv")
