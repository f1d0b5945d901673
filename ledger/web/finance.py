"""Finance: the month's invoice preview and batch, invoices and credit notes, the rate card, the CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import batch, billing, storage
from ..extensions import db
from ..models import Client, Invoice, InvoiceLine, Quote, RateCard
from ..money import Money, is_currency
from ..services import archive, exports, invoicing, payments, ratecards
from ..services.vendor import get_vendor
from . import receivables
from .admin import vendor_missing
from .boundary import done, transaction
from .common import (
    attempt,
    card_today,
    confirmation,
    domain_info,
    download,
    error_text,
    found_or_404,
    only_for,
    today,
)
from .forms import CreditNoteForm, IssueForm, RateCardForm, choices, set_rows, typed
from .language import ui_locale
from .listing import paginate, paginate_list, search_text, searched

blueprint = Blueprint("finance", __name__, url_prefix="/finance")
only_for(blueprint, "finance")
#: blank rows offered for volume-discount tiers and extra roles on the rate-card form
SPARE_TIERS, SPARE_ROLES = 2, 1


# --- the month: preview, issue, issued documents -----------------------------------------


def _period(raw: str | None) -> str:
    """A ``YYYY-MM`` period from the query or form (last month when absent); 400 when malformed."""
    period = (raw or "").strip() or (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    try:
        return str(billing.Period.parse(period))
    except billing.RuleViolation as error:
        abort(400, error.message)


@dataclass
class Preview:
    """One client's row in the month's preview."""

    client: Client
    draft: invoicing.Draft | None = None
    #: the invoice already issued for the period, if any
    issued: Invoice | None = None
    #: why no preview could be made (for example no rate card for the currency)
    problem: str | None = None


def _preview(client: Client, period: str, issued: Invoice | None) -> Preview:
    try:
        return Preview(client, invoicing.compose(db.session, client, period), issued)
    except Exception as error:
        return Preview(client, None, issued, error_text(domain_info(error)))


@blueprint.get("/invoices")
def invoices():
    period = _period(request.args.get("period"))
    # invoices first, then credit notes, each in number order
    documents = sorted(exports.invoices_of_month(db.session, period), key=lambda d: (d.kind != "invoice", d.number))
    issued_by_client = {doc.client_id: doc for doc in documents if doc.kind == "invoice"}
    clients = db.session.scalars(select(Client).order_by(Client.code)).all()
    previews = [_preview(client, period, issued_by_client.get(client.id)) for client in clients]
    first, _last = billing.month_bounds(period)
    return render_template(
        "finance/invoices.html", period=period, previews=previews, documents=documents,
        form=IssueForm(formdata=None, period=period), begun=first <= today(),
        vendor_missing=vendor_missing(get_vendor(db.session, current_app.config)),
        previous=(first - timedelta(days=1)).strftime("%Y-%m"),
        following=(first + timedelta(days=31)).strftime("%Y-%m"),
    )


#: the columns the list of all documents may be sorted by
DOCUMENT_SORTS = {"number": Invoice.number, "kind": Invoice.kind, "client": Client.code, "period": Invoice.period,
                  "issued_on": Invoice.issued_on, "due_on": Invoice.due_on, "total": Invoice.total_minor}
DOCUMENT_KEYS = {"number": lambda d: d.number, "kind": lambda d: d.kind, "client": lambda d: d.client.code,
                 "period": lambda d: d.period, "issued_on": lambda d: (d.issued_on, d.id),
                 "due_on": lambda d: (d.due_on, d.id), "total": lambda d: (d.total_minor, d.id)}


@blueprint.get("/documents")
def documents():
    """Every invoice and credit note, of all months and clients: searched, filtered, sorted, in pages."""
    search, cut = search_text()
    errors: dict[str, str] = {}
    period = request.args.get("period", "").strip()[:20]
    if period:
        try:
            period = str(billing.Period.parse(period))
        except billing.RuleViolation as error:
            errors["period"] = error.message
    status = request.args.get("status", "")
    if status and status not in billing.INVOICE_STATUSES:
        errors["status"] = _("Choose one of the statuses offered.")
    statement = select(Invoice).join(Client, Client.id == Invoice.client_id).options(selectinload(Invoice.client))
    statement = searched(statement, search, Invoice.number, Client.code, Client.name)
    if period and "period" not in errors:
        statement = statement.where(Invoice.period == period)
    if status and "status" not in errors:
        rows = db.session.scalars(statement).all()
        found = payments.standings(db.session, rows, today())
        listing = paginate_list([doc for doc in rows if found[doc.id].status == status], DOCUMENT_KEYS, "-issued_on")
    else:
        listing = paginate(statement, DOCUMENT_SORTS, "-issued_on", Invoice.id)
        found = payments.standings(db.session, listing.items, today())
    return render_template("finance/documents.html", listing=listing, standings=found, search=search, cut=cut,
                           period=period, status=status, statuses=billing.INVOICE_STATUSES,
                           errors=errors), 400 if errors else 200


@blueprint.post("/invoices/issue")
@transaction(batch=True)  # the run commits client by client in its own session
def issue():
    form = IssueForm()
    if not form.validate_on_submit():
        abort(400, "The period is missing.")
    period = _period(form.period.data)
    asked = confirmation(_("Issue the invoices for %(period)s", period=period), [
        _("Issue an invoice for %(period)s to every client with something to bill that has none yet.", period=period),
        _("Issued invoices are final: a mistake is corrected with a credit note.")],
        url_for("finance.invoices", period=period), button=_("Issue invoices for %(period)s", period=period))
    if asked is not None:
        return asked
    try:
        result = batch.run(current_app._get_current_object(), period, today(), user=current_user)
    except Exception as error:
        flash(error_text(domain_info(error)), "error")
        return redirect(url_for("finance.invoices", period=period))
    if result.issued:
        flash(ngettext("Issued %(num)d invoice for %(period)s: %(numbers)s.", "Issued %(num)d invoices for %(period)s: %(numbers)s.",
                       len(result.issued), period=period, numbers=", ".join(result.issued)), "info")
    elif not result.failed:
        flash(_("Nothing new to invoice for %(period)s.", period=period), "info")
    for failure in result.failed:
        flash(_("Not issued for %(client)s: %(reason)s", client=failure.client, reason=_(failure.message)), "error")
    return redirect(url_for("finance.invoices", period=period))


def invoice_or_404(number: str, refusal: str | None = None) -> Invoice:
    """The invoice or credit note ``number``, or 404; given a ``refusal``, a credit note gets a 409."""
    found = found_or_404(invoicing.find_invoice, number)
    if refusal is not None and found.kind != "invoice":
        abort(409, refusal)
    return found


@blueprint.get("/invoices/<number>/pdf")
def invoice_pdf(number: str):
    invoice = invoice_or_404(number)
    try:
        data = archive.read_pdf(db.session, invoice, storage.for_config(current_app.config))
    except archive.ArchiveUnavailable as error:
        current_app.logger.error("%s", error)
        abort(503, f"The invoice archive cannot be reached just now; try {invoice.number} again shortly.")
    except archive.ArchiveDamaged as error:
        current_app.logger.error("%s", error)
        abort(500, f"The archived PDF of {invoice.number} is damaged or missing; ask an administrator "
                   "to restore the invoice archive.")
    return download(data, "application/pdf", f"{invoice.number}.pdf")


# --- one invoice and its credit notes ----------------------------------------------------


def invoice_page(invoice: Invoice, form: CreditNoteForm | None = None, status: int = 200, payment_form=None):
    notes = db.session.scalars(
        select(Invoice).where(Invoice.refers_to_id == invoice.id).order_by(Invoice.id)).all()
    credited = set(db.session.scalars(select(InvoiceLine.credits_line_id).where(
        InvoiceLine.credits_line_id.in_([line.id for line in invoice.lines]))))
    if form is None and invoice.kind == "invoice":
        form = CreditNoteForm(formdata=None)
    if form is not None:
        form.lines.choices = choices((line.position, line.description) for line in invoice.lines)
    return render_template("finance/invoice.html", invoice=invoice, client=invoice.client, notes=notes,
                           credited=credited, form=form,
                           chosen=set(form.lines.data or []) if form is not None else set(),
                           **receivables.payment_panel(invoice, payment_form)), status


@blueprint.get("/invoices/<number>")
def invoice(number: str):
    return invoice_page(invoice_or_404(number))


@blueprint.post("/invoices/<number>/credit-notes")
@transaction
def credit_note(number: str):
    found = invoice_or_404(number, "Only an invoice can be credited.")
    form = CreditNoteForm()
    form.lines.choices = choices((line.position, line.description) for line in found.lines)
    if form.validate_on_submit():
        chosen = [line.description for line in found.lines if line.position in (form.lines.data or [])]
        names = {"number": found.number, "client": found.client.name}
        asked = confirmation(_("Issue a credit note against %(number)s", **names), [
            _("Credit these lines: %(lines)s of %(number)s (%(client)s).", lines="; ".join(chosen), **names) if chosen
            else _("Credit what is left of the whole invoice of %(number)s (%(client)s).", **names),
            _("Reason: %(reason)s", reason=form.reason.data),
            _("A credit note is final and gets the next credit-note number.")],
            url_for("finance.invoice", number=found.number), button=_("Issue the credit note"))
        if asked is not None:
            return asked
        with attempt(form):
            note = invoicing.issue_credit_note(db.session, found, form.reason.data, form.lines.data or None,
                                               today(), user=current_user, archive_config=current_app.config)
            return done(_("Credit note %(note)s issued against %(invoice)s.", note=note.number, invoice=found.number),
                        "finance.invoice", number=note.number)
        found = invoice_or_404(number)
    return invoice_page(found, form, 422)


# --- the rate card -----------------------------------------------------------------------


def _fill_from(form: RateCardForm, card: RateCard | None, currency: str) -> None:
    """Start a new version from the card in force (or the seed values when there is none)."""
    amount = lambda minor: Money.from_minor(minor, currency).amount
    form.currency.data = currency
    form.effective_from.data = today() + timedelta(days=1)
    if card is not None:
        prices = [amount(card.incident_price_minor), amount(card.overage_price_minor),
                  amount(card.maintenance_fee_minor)]
        role_rows = [(r.code, r.title, amount(r.hourly_minor), amount(r.daily_minor)) for r in card.roles]
        tiers = [(t.min_hours, t.percent) for t in card.volume_discounts]
    else:
        prices = [ratecards.SEED_INCIDENT_PRICE, ratecards.SEED_OVERAGE_PRICE, Decimal(0)]
        role_rows, tiers = list(ratecards.SEED_ROLES), list(ratecards.SEED_DISCOUNTS)
    form.incident_price.data, form.overage_price.data, form.maintenance_fee.data = prices
    set_rows(form.roles, [{"code": c, "title": t, "hourly": h, "daily": d} for c, t, h, d in role_rows], SPARE_ROLES)
    set_rows(form.discounts, [{"min_hours": h, "percent": p} for h, p in tiers], SPARE_TIERS)


def _rate_card_page(currency: str, form: RateCardForm, status: int = 200):
    currencies = db.session.scalars(select(RateCard.currency).distinct().order_by(RateCard.currency)).all()
    versions = db.session.scalars(
        select(RateCard).where(RateCard.currency == currency).order_by(RateCard.version.desc())).all()
    quote_counts = dict(db.session.execute(
        select(Quote.rate_card_id, func.count(Quote.id)).join(RateCard, RateCard.id == Quote.rate_card_id)
        .where(RateCard.currency == currency).group_by(Quote.rate_card_id)).all())
    return render_template(
        "finance/rate_card.html", currency=currency, currencies=currencies, card=card_today(currency),
        versions=versions, quote_counts=quote_counts, form=form, today=today(), ui_locale=ui_locale(),
    ), status


@blueprint.get("/rate-card")
def rate_card():
    currency = (request.args.get("currency") or "USD").strip().upper()
    if not is_currency(currency):
        abort(400, f"{currency!r} is not an ISO 4217 currency code.")
    form = RateCardForm(formdata=None)
    _fill_from(form, card_today(currency), currency)
    return _rate_card_page(currency, form)


@blueprint.post("/rate-card")
@transaction
def create_rate_card():
    form = RateCardForm()
    currency = typed(form.currency).upper()
    valid = form.validate_on_submit()
    if not is_currency(currency):
        form.currency.errors = [*form.currency.errors, f"{currency!r} is not an ISO 4217 currency code."]
        currency, valid = "USD", False
    role_rows, tiers = form.card_roles(), form.card_discounts()
    form.check_amounts(currency)
    if valid and not form.has_errors():
        with attempt(form):
            card = ratecards.create_rate_card(
                db.session, currency, form.effective_from.data, incident_price=form.incident_price.data,
                overage_price=form.overage_price.data,
                maintenance_fee=form.maintenance_fee.data or Decimal(0), roles=role_rows, discounts=tiers)
            return done(_("Version %(version)s of the %(currency)s rate card is in force from %(day)s. "
                          "Existing quotes keep the prices of their version.", version=card.version, currency=currency,
                          day=card.effective_from.isoformat()),
                        "finance.rate_card", currency=currency)
    return _rate_card_page(currency, form, 422)


# --- the export --------------------------------------------------------------------------


@blueprint.get("/export.csv")
def export():
    period = _period(request.args.get("period"))
    return download(exports.export_csv(db.session, period), "text/csv", f"invoices-{period}.csv")
