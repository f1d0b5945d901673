"""The client portal: only the signed-in user's own organisation, ever."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import billing, storage
from ..charts import bar_chart
from ..extensions import db
from ..models import Case, Invoice, Quote, utcnow
from ..services import archive, balances, case_queue, einvoicing, payments, quotes, support
from ..services.clients import current_term
from ..services.invoicing import find_invoice
from ..services.statement import monthly_usage
from ..services.statement import service_levels as service_levels_of
from . import balance_history
from .boundary import done, transaction
from .common import (
    attempt,
    case_levels,
    confirm_decision,
    domain_info,
    download,
    error_text,
    form_status,
    found_or_404,
    only_for,
    today,
)
from .forms import ClientCaseForm
from .listing import paginate

blueprint = Blueprint("portal", __name__, url_prefix="/portal")
only_for(blueprint, "client")


@blueprint.get("/")
def dashboard():
    client, on = current_user.client, today()
    balance = balances.balance(db.session, client, on)
    used = balances.incidents_used_since(db.session, client, on - timedelta(days=billing.FORECAST_WINDOW_DAYS))
    monthly = monthly_usage(db.session, client, on)
    return render_template(
        "portal/dashboard.html", client=client, balance=balance, term=current_term(client, on),
        forecast=billing.rollover_forecast(balance.available), used=used,
        runs_out=billing.run_out_date(balance.available, used, on),
        chart=bar_chart([(_month_label(m["month"], client.locale), m["incidents"]) for m in monthly],
                        width=640, title=_("Incidents used per month")),
    )


def _month_label(month: str, locale: str) -> str:
    """``2026-03`` as the client's locale abbreviates it: ``Mar 26``, ``März 26``."""
    return format_date(date.fromisoformat(month + "-01"), "MMM yy", locale=locale)


@blueprint.get("/history")
def history():
    return balance_history.history_page(current_user.client, url_for("portal.history_csv"), portal=True)


@blueprint.get("/history.csv")
def history_csv():
    return balance_history.history_csv(current_user.client, portal=True)


@blueprint.get("/cases")
def cases():
    client = current_user.client
    listing = paginate(select(Case).where(Case.client_id == client.id).options(selectinload(Case.status_changes)),
                       CASE_SORTS, "-number", Case.id)
    return render_template("portal/cases.html", client=client, cases=listing.items, listing=listing,
                           levels=case_queue.levels_of(db.session, listing.items))


#: the columns the portal's lists may be sorted by
CASE_SORTS = {"number": Case.id, "subject": Case.subject, "severity": Case.severity, "status": Case.status,
              "opened": Case.opened_at}
QUOTE_SORTS = {"number": Quote.id, "valid_until": Quote.valid_until, "total": Quote.total_minor}
INVOICE_SORTS = {"number": Invoice.id, "kind": Invoice.kind, "period": Invoice.period,
                 "issued_on": Invoice.issued_on, "due_on": Invoice.due_on, "total": Invoice.total_minor}


@blueprint.route("/cases/new", methods=["GET", "POST"])
@transaction
def open_case():
    client, form = current_user.client, ClientCaseForm()
    if form.validate_on_submit():
        with attempt(form):  # domain errors go beside their field
            case = support.open_case(db.session, client, form.subject.data, form.severity.data, utcnow(),
                                     user=current_user, description=form.description.data)
            return done(_("Case %(number)s opened: the service-level clock has started.", number=case.number),
                        "portal.case", number=case.number)
    return render_template("portal/case_new.html", client=client, form=form), form_status()


@blueprint.get("/cases/<number>")
def case(number: str):
    found = found_or_404(support.find_case, number)
    levels, zone = case_levels(found)
    return render_template("portal/case.html", client=found.client, case=found, levels=levels, zone=zone)


@blueprint.get("/service-levels")
def service_levels():
    client = current_user.client
    period = request.args.get("period") or today().strftime("%Y-%m")
    try:
        report, error, status = service_levels_of(db.session, client, period), None, 200
    except Exception as refused:  # a bad month is named; anything else is raised
        info = domain_info(refused)
        report, error, status = None, error_text(info), info.status
    return render_template("portal/service_levels.html", client=client, period=period, report=report,
                           error=error), status


@blueprint.get("/quotes")
def quotes_page():
    client = current_user.client
    listing = paginate(quotes.visible_quotes(current_user).where(Quote.client_id == client.id),
                       QUOTE_SORTS, "-number", Quote.id)
    return render_template("portal/quotes.html", client=client, quotes=listing.items, listing=listing,
                           state=lambda q: quotes.state_on(q, today()))


@blueprint.post("/quotes/<number>/<any(accept, decline):action>")
@transaction
def decide_quote(number: str, action: str):
    quote = found_or_404(quotes.find_quote, number)
    asked = confirm_decision(quote, action, url_for("portal.quotes_page"))
    if asked is not None:
        return asked
    try:
        with db.session.begin_nested():
            move = quotes.accept_quote if action == "accept" else quotes.decline_quote
            move(db.session, quote, today(), user=current_user)
        flash(_("Quote %(number)s accepted.", number=quote.number) if action == "accept"
              else _("Quote %(number)s declined.", number=quote.number), "info")
    except Exception as error:  # a domain error is shown, anything else raised
        info = domain_info(error)
        if info.status == 404:
            abort(404)
        flash(error_text(info), "error")
    return redirect(url_for("portal.quotes_page"))


@blueprint.get("/invoices")
def invoices():
    client = current_user.client
    own = select(Invoice).where(Invoice.client_id == client.id)
    listing = paginate(own, INVOICE_SORTS, "-number", Invoice.id)
    # each invoice's standing, and what is outstanding: over every invoice, not only the page shown
    everything = db.session.scalars(own).all()
    found = payments.standings(db.session, everything, today())
    outstanding = sum(found[doc.id].amount_due for doc in everything if doc.kind == "invoice")
    return render_template("portal/invoices.html", client=client, invoices=listing.items, listing=listing,
                           standings=found, outstanding=outstanding)


@blueprint.get("/invoices/<number>/factur-x.xml")
def invoice_xml(number: str):
    invoice = found_or_404(find_invoice, number)  # another client's is a 404, with no hint either way
    return download(einvoicing.invoice_xml(invoice), "application/xml", f"{invoice.number}-factur-x.xml")


@blueprint.get("/invoices/<number>/ubl.xml")
def invoice_ubl(number: str):
    invoice = found_or_404(find_invoice, number)
    return download(einvoicing.invoice_ubl(invoice), "application/xml", f"{invoice.number}-ubl.xml")


@blueprint.get("/invoices/<number>.pdf")
def invoice_pdf(number: str):
    invoice = found_or_404(find_invoice, number)
    data = archive.read_pdf(db.session, invoice, storage.for_config(current_app.config))
    return download(data, "application/pdf", f"{invoice.number}.pdf")
