"""The client portal: only the signed-in user's own organisation, ever."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import billing, storage
from ..charts import bar_chart
from ..errors import NotFound
from ..errors import describe as describe_error
from ..extensions import db
from ..models import Activity, Case, Invoice, Quote, utcnow
from ..services import archive, balances, case_queue, einvoicing, quotes, support
from ..services.clients import current_term
from ..services.history import describe
from ..services.invoicing import find_invoice
from ..services.statement import monthly_usage
from ..services.statement import service_levels as service_levels_of
from . import receivables
from .boundary import transaction
from .common import apply_error, case_levels, confirm_decision, roles, today
from .forms import ClientCaseForm

blueprint = Blueprint("portal", __name__, url_prefix="/portal")


def own_client():
    """The signed-in client user's organisation."""
    return current_user.client


@blueprint.get("/")
@roles("client")
def dashboard():
    client, on = own_client(), today()
    balance = balances.balance(db.session, client, on)
    used = balances.incidents_used_since(db.session, client, on - timedelta(days=billing.FORECAST_WINDOW_DAYS))
    monthly = monthly_usage(db.session, client, on)
    return render_template(
        "portal/dashboard.html", client=client, balance=balance, term=current_term(client, on),
        forecast=billing.rollover_forecast(balance.available), used=used,
        runs_out=billing.run_out_date(balance.available, used, on),
        chart=bar_chart([(_month_label(m["month"], client.locale), m["incidents"]) for m in monthly],
                        width=640, title="Incidents used per month"),
    )


def _month_label(month: str, locale: str) -> str:
    """``2026-03`` as the client's locale abbreviates it: ``Mar 26``, ``März 26``."""
    return format_date(date.fromisoformat(month + "-01"), "MMM yy", locale=locale)


@blueprint.get("/history")
@roles("client")
def history():
    client = own_client()
    activities = db.session.scalars(
        select(Activity).where(Activity.client_id == client.id)
        .options(selectinload(Activity.case), selectinload(Activity.waiver))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(500)
    ).all()
    return render_template("portal/history.html", client=client, activities=activities, describe=describe)


@blueprint.get("/cases")
@roles("client")
def cases():
    client = own_client()
    rows = db.session.scalars(select(Case).where(Case.client_id == client.id)
                              .options(selectinload(Case.status_changes)).order_by(Case.id.desc())).all()
    return render_template("portal/cases.html", client=client, cases=rows,
                           levels=case_queue.levels_of(db.session, rows))


@blueprint.route("/cases/new", methods=["GET", "POST"])
@roles("client")
@transaction
def open_case():
    client, form = own_client(), ClientCaseForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                case = support.open_case(db.session, client, form.subject.data, form.severity.data, utcnow(),
                                         user=current_user, description=form.description.data)
            flash(f"Case {case.number} opened: the service-level clock has started.", "info")
            return redirect(url_for("portal.case", number=case.number))
        except Exception as error:  # domain errors go beside their field
            if not apply_error(form, error):
                raise
    status = 422 if request.method == "POST" else 200
    return render_template("portal/case_new.html", client=client, form=form), status


@blueprint.get("/cases/<number>")
@roles("client")
def case(number: str):
    try:
        found = support.find_case(db.session, number, current_user)
    except NotFound:
        abort(404)
    levels, zone = case_levels(found)
    return render_template("portal/case.html", client=found.client, case=found, levels=levels, zone=zone)


@blueprint.get("/service-levels")
@roles("client")
def service_levels():
    client = own_client()
    period = request.args.get("period") or today().strftime("%Y-%m")
    try:
        report = service_levels_of(db.session, client, period)
    except Exception as error:  # a bad month is named; anything else is raised
        info = describe_error(error)
        if info is None:
            raise
        return render_template("portal/service_levels.html", client=client, period=period, report=None,
                               error=info.message), info.status
    return render_template("portal/service_levels.html", client=client, period=period, report=report, error=None)


@blueprint.get("/quotes")
@roles("client")
def quotes_page():
    client = own_client()
    rows = db.session.scalars(
        quotes.visible_quotes(current_user).where(Quote.client_id == client.id).order_by(Quote.id.desc())
    ).all()
    return render_template("portal/quotes.html", client=client, quotes=rows,
                           state=lambda q: quotes.state_on(q, today()))


@blueprint.post("/quotes/<number>/<any(accept, decline):action>")
@roles("client")
@transaction
def decide_quote(number: str, action: str):
    try:
        quote = quotes.find_quote(db.session, number, current_user)
    except NotFound:
        abort(404)
    asked = confirm_decision(quote, action, url_for("portal.quotes_page"))
    if asked is not None:
        return asked
    try:
        with db.session.begin_nested():
            move = quotes.accept_quote if action == "accept" else quotes.decline_quote
            move(db.session, quote, today(), user=current_user)
        flash(f"Quote {quote.number} {'accepted' if action == 'accept' else 'declined'}.", "info")
    except Exception as error:  # a domain error is shown, anything else raised
        info = describe_error(error)
        if info is None:
            raise
        if info.status == 404:
            abort(404)
        flash(info.message, "error")
    return redirect(url_for("portal.quotes_page"))


@blueprint.get("/invoices")
@roles("client")
def invoices():
    client = own_client()
    rows = db.session.scalars(
        select(Invoice).where(Invoice.client_id == client.id).order_by(Invoice.id.desc())).all()
    return render_template("portal/invoices.html", client=client, invoices=rows,
                           **receivables.portal_invoices(client, rows))


def own_invoice(number: str):
    """The client's own invoice or credit note; 404 for another's, with no hint either way."""
    try:
        return find_invoice(db.session, number, current_user)
    except NotFound:
        abort(404)


@blueprint.get("/invoices/<number>/factur-x.xml")
@roles("client")
def invoice_xml(number: str):
    invoice = own_invoice(number)
    return _xml(einvoicing.invoice_xml(invoice), f"{invoice.number}-factur-x.xml")


@blueprint.get("/invoices/<number>/ubl.xml")
@roles("client")
def invoice_ubl(number: str):
    invoice = own_invoice(number)
    return _xml(einvoicing.invoice_ubl(invoice), f"{invoice.number}-ubl.xml")


def _xml(data: bytes, filename: str):
    return current_app.response_class(data, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.get("/invoices/<number>.pdf")
@roles("client")
def invoice_pdf(number: str):
    invoice = own_invoice(number)
    data = archive.read_pdf(db.session, invoice, storage.for_config(current_app.config))
    return current_app.response_class(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'})
