"""Account managers: clients, cases, logging support work, bundles, waivers, work and quotes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import billing
from ..api.schemas import in_currency
from ..businesstime import CASE_TRANSITIONS, RESOLUTIONS
from ..errors import ValidationError
from ..extensions import db
from ..models import SEVERITIES, Activity, Case, Client, Quote, SupportPlan, utcnow
from ..money import Money, is_currency
from ..pdf import render_quote_pdf
from ..services import balances, bundles, case_queue, quotes, ratecards, sla, support, work
from ..services.clients import create_client, current_term, maintenance_fee, update_client, visible_clients
from ..services.vendor import set_client_billing, tax_components
from .balance_history import history_csv, history_page
from .boundary import done, save_checked, transaction
from .common import (
    apply_error,
    attempt,
    card_today,
    case_levels,
    client_or_404,
    confirm_decision,
    confirmation,
    describe_activity,
    domain_info,
    download,
    error_text,
    form_status,
    found_or_404,
    label,
    rate_card_titles,
    roles,
    today,
)
from .forms import (
    MAX_QUOTE_LINES,
    AppointmentForm,
    BillingDetailsForm,
    BillingForm,
    BundleForm,
    CaseForm,
    ClientDetailsForm,
    HelpdeskForm,
    NewClientForm,
    QuoteForm,
    ResponseForm,
    WaiverForm,
    WorkForm,
    aware,
    choices,
    in_zone,
    typed,
)
from .listing import paginate, paginate_list, search_text, searched

blueprint = Blueprint("manager", __name__)
MANAGERS = ("account_manager",)
#: a client with this many incidents or fewer is flagged as running low
LOW_BALANCE = 5


@blueprint.get("/clients")
@roles(*MANAGERS)
def clients():
    search, cut = search_text()
    statement = searched(visible_clients(current_user), search, Client.code, Client.name)
    listing = paginate(statement, CLIENT_SORTS, "code", Client.id)
    rows = [(client, balances.balance(db.session, client, today())) for client in listing.items]
    return render_template("manager/clients.html", rows=rows, listing=listing, search=search, cut=cut,
                           low=LOW_BALANCE)


#: the columns the client list may be sorted by
CLIENT_SORTS = {"code": Client.code, "name": Client.name, "currency": Client.currency,
                "term_start": Client.term_start}


@blueprint.get("/clients/<code>")
@roles(*MANAGERS, "finance")
def client(code: str):
    client = client_or_404(code)
    on = today()
    balance = balances.balance(db.session, client, on)
    history = db.session.scalars(
        select(Activity).where(Activity.client_id == client.id)
        .options(selectinload(Activity.case), selectinload(Activity.waiver))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(200)
    ).all()
    cases = db.session.scalars(select(Case).where(Case.client_id == client.id).order_by(Case.id.desc())).all()
    client_quotes = db.session.scalars(
        select(Quote).where(Quote.client_id == client.id).order_by(Quote.id.desc())).all()
    return render_template(
        "manager/client.html", client=client, balance=balance, term=current_term(client, on), history=history,
        describe=describe_activity, cases=cases, quotes=client_quotes,
        waivable=support.waivable(db.session, history, on),
        forecast=billing.rollover_forecast(balance.available),
        quote_state=lambda q: quotes.state_on(q, on),
    )


@blueprint.get("/clients/<code>/history")
@roles(*MANAGERS, "finance")
def balance_history(code: str):
    client = client_or_404(code)
    return history_page(client, url_for("manager.balance_history_csv", code=client.code), portal=False)


@blueprint.get("/clients/<code>/history.csv")
@roles(*MANAGERS, "finance")
def balance_history_csv(code: str):
    return history_csv(client_or_404(code), portal=False)


@blueprint.route("/new-client", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def new_client():
    """A new client with the fields the API takes; each refusal is shown beside its field."""
    form = NewClientForm()
    form.support_plan.choices = _plan_choices()
    if request.method == "GET":
        form.term_start.data = today().replace(day=1)
    if form.validate_on_submit():
        with attempt(form):  # domain errors go beside their field
            client = _create_client(form)
            return done(_("Client %(code)s created.") % {"code": client.code},
                        "manager.client", code=client.code)
    return render_template("manager/client_form.html", form=form, client=None), form_status()


def _create_client(form: NewClientForm) -> Client:
    """The client as the API's ``POST /clients`` creates it: the same services, in the same order."""
    currency = form.currency.data.strip().upper()
    fee = in_currency(form.maintenance_fee.data or Decimal(0), currency, "maintenance_fee") \
        if is_currency(currency) else None
    client = create_client(db.session, code=form.code.data.strip(), name=form.name.data.strip(), currency=currency,
                           locale=form.locale.data.strip(), tax_rate=form.tax_rate.data,
                           term_start=form.term_start.data, maintenance_fee=fee,
                           overage_policy=form.overage_policy.data, address=typed(form.address))
    set_client_billing(db.session, client, **_billing_details(form))
    if form.support_plan.data:
        sla.set_client_plan(db.session, client, form.support_plan.data)
    return client


def _plan_choices():
    """The support plans, after the default (no plan set: the ``standard`` one)."""
    plans = db.session.scalars(select(SupportPlan).order_by(SupportPlan.id))
    return choices([("", _("The default plan (standard)"))] + [(plan.code, plan.name) for plan in plans])


@blueprint.route("/clients/<code>/edit", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def edit_client(code: str):
    """A client's name, locale, tax rate, fee, overage policy, address and plan; its code never changes."""
    client = client_or_404(code)
    form = ClientDetailsForm() if request.method == "POST" else ClientDetailsForm(formdata=None, data={
        "name": client.name, "locale": client.locale, "tax_rate": client.tax_rate,
        "maintenance_fee": maintenance_fee(client).amount, "overage_policy": client.overage_policy,
        "address": client.address, "support_plan": _plan_code(client)})
    form.support_plan.choices = _plan_choices()
    if form.validate_on_submit():
        with attempt(form):
            _update_client(client, form)
            return done(_("The details of %(code)s are saved.") % {"code": client.code},
                        "manager.client", code=client.code)
    return render_template("manager/client_form.html", form=form, client=client), form_status()


def _plan_code(client: Client) -> str:
    try:
        return sla.plan_of(db.session, client).code
    except ValidationError:  # no plan seeded at all
        return ""


def _update_client(client: Client, form: ClientDetailsForm) -> None:
    """The API's ``PATCH /clients/{code}``; an unchanged tax rate keeps the client's named taxes."""
    fields = {"name": form.name.data.strip(), "locale": form.locale.data.strip(),
              "overage_policy": form.overage_policy.data, "address": typed(form.address),
              "maintenance_fee": in_currency(form.maintenance_fee.data or Decimal(0), client.currency,
                                             "maintenance_fee")}
    if form.tax_rate.data != client.tax_rate:
        fields["tax_rate"] = form.tax_rate.data
    update_client(db.session, client, **fields)
    if form.support_plan.data and form.support_plan.data != _plan_code(client):
        sla.set_client_plan(db.session, client, form.support_plan.data)


@blueprint.route("/clients/<code>/billing", methods=["GET", "POST"])
@roles(*MANAGERS, "finance")
@transaction
def edit_billing(code: str):
    """The client's billing details: they print on invoices issued from now on; issued ones keep theirs."""
    client = client_or_404(code)
    form = BillingForm() if request.method == "POST" else _billing_form(client)
    tax_errors: list[str] = []
    if form.validate_on_submit():
        errors = save_checked(lambda **some: set_client_billing(db.session, client, **some),
                              _typed_billing(form), {"vat_id": ("country",)})
        if not errors:
            return done(_("The billing details of %(name)s are saved; invoices issued from now on print them.")
                        % {"name": client.name},
                        "manager.client", code=client.code)
        for error in errors:  # domain errors only: save_checked raises any other
            info = domain_info(error)
            if info.field == "taxes":
                tax_errors.append(error_text(info))  # the rows share one message, shown under the table
            else:
                apply_error(form, error)
    return render_template("manager/billing.html", client=client, form=form,
                           tax_errors=tax_errors), form_status()


def _billing_form(client: Client) -> BillingForm:
    """The form filled with the client's details; a client without named taxes shows its one rate."""
    taxes = [{"name": t.name, "rate": t.rate} for t in tax_components(client) if t.rate or client.taxes]
    return BillingForm(formdata=None, data={  # blank tax rows up to the form's min_entries
        "country": client.country, "vat_id": client.vat_id, "billing_emails": "\n".join(client.billing_emails or []),
        "payment_terms_days": client.payment_terms_days, "purchase_order": client.purchase_order,
        "reverse_charge": client.reverse_charge, "taxes": taxes})


def _billing_details(form: BillingDetailsForm) -> dict:
    """The buyer's details as ``set_client_billing`` takes them (one billing e-mail a line)."""
    return {
        "country": typed(form.country), "vat_id": form.vat_id.data or "",
        "billing_emails": [line.strip() for line in (form.billing_emails.data or "").splitlines() if line.strip()],
        "payment_terms_days": form.payment_terms_days.data, "purchase_order": form.purchase_order.data or "",
        "reverse_charge": bool(form.reverse_charge.data),
    }


def _typed_billing(form: BillingForm) -> dict:
    """The form's values as ``set_client_billing`` takes them; empty tax rows are left out."""
    rows = [row.form for row in form.taxes]
    taxes = [{"name": typed(row.name), "rate": "" if row.rate.data is None else str(row.rate.data)}
             for row in rows if typed(row.name) or row.rate.data is not None]
    return {**_billing_details(form), "taxes": taxes}


@blueprint.route("/clients/<code>/cases/new", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def open_case(code: str):
    client = client_or_404(code)
    form = in_zone(CaseForm(), client.time_zone)
    if form.validate_on_submit():
        with attempt(form):  # domain errors go beside their field
            case = support.open_case(db.session, client, form.subject.data, form.severity.data,
                                     aware(form.opened_at.data, form.time_zone.data), user=current_user)
            return done(_("Case %(number)s opened.", number=case.number), "manager.case", number=case.number)
    return render_template("manager/case_new.html", client=client, form=form), form_status()


#: the forms the case page logs work with, by the names the page knows them by
CASE_FORMS = {"helpdesk_form": HelpdeskForm, "response_form": ResponseForm,
              "appointment_form": AppointmentForm}


def _case_page(case: Case, status: int = 200, **forms):
    activities = db.session.scalars(
        select(Activity).where(Activity.case_id == case.id)
        .options(selectinload(Activity.waiver)).order_by(Activity.occurred_at, Activity.id)
    ).all()
    forms = {name: in_zone(forms.get(name) or form_class(formdata=None), case.client.time_zone)
             for name, form_class in CASE_FORMS.items()}
    levels, zone = case_levels(case)
    return render_template("manager/case.html", case=case, client=case.client, activities=activities,
                           describe=describe_activity, waivable=support.waivable(db.session, activities, today()),
                           levels=levels, zone=zone, moves=sorted(CASE_TRANSITIONS[case.status]),
                           resolutions=RESOLUTIONS, **forms), status


@blueprint.get("/cases")
@roles(*MANAGERS)
def queue():
    listing = paginate_list(case_queue.open_queue(db.session, current_user), QUEUE_SORTS, "due")
    return render_template("manager/queue.html", listing=listing,
                           due_soon_hours=int(case_queue.DUE_SOON.total_seconds() // 3600))


#: the queue's columns it may be sorted by; cases with no target come last when sorting by due time
QUEUE_SORTS = {
    "due": lambda line: (line.due is None, line.due.timestamp() if line.due else 0.0, line.case.id),
    "number": lambda line: line.case.id,
    "client": lambda line: (line.case.client.code, line.case.id),
    "severity": lambda line: (SEVERITIES.index(line.case.severity), line.case.id),
    "status": lambda line: (line.case.status, line.case.id),
}


@blueprint.get("/cases/<number>")
@roles(*MANAGERS)
def case(number: str):
    return _case_page(found_or_404(support.find_case, number))


@blueprint.post("/cases/<number>/status")
@roles(*MANAGERS)
@transaction
def change_status(number: str):
    case = found_or_404(support.find_case, number)
    status = request.form.get("status", "")
    try:
        with db.session.begin_nested():
            sla.change_status(db.session, case, status, utcnow(), request.form.get("resolution") or None,
                              user=current_user)
        return done(_("Case %(number)s is now %(status)s.", number=case.number, status=label(case.status)),
                    "manager.case", number=case.number)
    except Exception as error:  # a refused move is shown on the case page, nothing changed
        info = domain_info(error)
        db.session.refresh(case)
        flash(_("Case %(number)s was not changed: %(reason)s.", number=case.number, reason=error_text(info)), "error")
        return _case_page(case, info.status)


def _log(number: str, form_name: str, action):
    case = found_or_404(support.find_case, number)
    form = in_zone(CASE_FORMS[form_name](), case.client.time_zone)
    if form.validate_on_submit():
        with attempt(form):  # domain errors go beside their field
            activity = action(case, form)
            return done(_("Logged: %(what)s.", what=describe_activity(activity)),
                        "manager.case", number=case.number)
    return _case_page(case, 422, **{form_name: form})


@blueprint.post("/cases/<number>/helpdesk-answers")
@roles(*MANAGERS)
@transaction
def log_helpdesk_answer(number: str):
    return _log(number, "helpdesk_form", lambda case, form: support.log_helpdesk_answer(
        db.session, case, aware(form.answered_at.data, form.time_zone.data), form.by.data,
        form.note.data or "", user=current_user))


@blueprint.post("/cases/<number>/responses")
@roles(*MANAGERS)
@transaction
def log_response(number: str):
    return _log(number, "response_form", lambda case, form: support.log_technician_response(
        db.session, case, aware(form.responded_at.data, form.time_zone.data), form.technician.data,
        form.note.data or "", user=current_user))


@blueprint.post("/cases/<number>/appointments")
@roles(*MANAGERS)
@transaction
def log_appointment(number: str):
    def action(case, form):
        started = aware(form.started_at.data, form.time_zone.data)
        ended = started + timedelta(minutes=form.duration.data) if form.ended_at.data is None \
            else aware(form.ended_at.data, form.time_zone.data)
        return support.log_appointment(db.session, case, started, ended, form.technician.data,
                                       form.note.data or "", user=current_user)

    return _log(number, "appointment_form", action)


@blueprint.route("/activities/<int:activity_id>/waive", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def waive(activity_id: int):
    activity = found_or_404(support.find_activity, activity_id)
    form = WaiverForm()
    if form.validate_on_submit():
        with attempt(form):
            support.waive(db.session, activity, form.reason.data, user=current_user)
            return done(_("The charge is waived."), "manager.client", code=activity.client.code)
    return render_template("manager/waive.html", activity=activity, describe=describe_activity,
                           form=form), form_status()


@blueprint.route("/clients/<code>/bundles/new", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def sell_bundle(code: str):
    client = client_or_404(code)
    form = BundleForm()
    card = card_today(client.currency)
    price = None if card is None else Money.from_minor(card.incident_price_minor, client.currency).amount
    if request.method == "GET":
        form.purchased_on.data = today()
        form.unit_price.data = price
    if form.validate_on_submit():
        unit_price = None if form.unit_price.data is None else Money(form.unit_price.data, client.currency)
        asked = confirmation(_("Sell a bundle to %(client)s", client=client.name), [
            ngettext("Sell a bundle of %(num)d incident to %(client)s, purchased on %(day)s.",
                     "Sell a bundle of %(num)d incidents to %(client)s, purchased on %(day)s.", form.quantity.data,
                     client=client.name, day=form.purchased_on.data.isoformat()),
            _("Price per incident: %(price)s.", price=unit_price.format(client.locale)) if unit_price
            else _("Price per incident: the rate card price."),
            _("The bundle is billed on the invoice of its month.")], url_for("manager.client", code=client.code),
            button=_("Confirm the sale"))
        if asked is not None:
            return asked
        with attempt(form):
            bundle = bundles.buy_bundle(db.session, client, form.quantity.data, form.purchased_on.data,
                                        unit_price, user=current_user)
            return done(ngettext("Sold a bundle of %(num)d incident.", "Sold a bundle of %(num)d incidents.", bundle.quantity),
                        "manager.client", code=client.code)
    return render_template("manager/bundle_new.html", client=client, form=form, price=price), form_status()


@blueprint.route("/clients/<code>/work/new", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def log_work(code: str):
    client = client_or_404(code)
    form = WorkForm()
    form.role.choices = choices(rate_card_titles(client).items())
    cases = db.session.scalars(select(Case).where(Case.client_id == client.id).order_by(Case.id.desc())).all()
    form.case.choices = choices([("", "—")] + [(c.number, f"{c.number} {c.subject}") for c in cases])
    if request.method == "GET":
        form.performed_on.data = today()
    if form.validate_on_submit():
        case = next((c for c in cases if c.number == form.case.data), None)
        with attempt(form):
            result = work.log_work(db.session, client, form.role.data, form.minutes.data,
                                   form.performed_on.data, form.description.data, case=case,
                                   user=current_user)
            return done(_("Logged %(minutes)s min, billed as %(billed)s min: %(prepaid)s from prepaid hours, %(beyond)s beyond.",
                          minutes=result.activity.minutes, billed=result.activity.billed_minutes,
                          prepaid=result.prepaid_minutes_used, beyond=result.overage_minutes),
                        "manager.client", code=client.code)
    return render_template("manager/work_new.html", client=client, form=form), form_status()


@blueprint.route("/clients/<code>/quotes/new", methods=["GET", "POST"])
@roles(*MANAGERS)
@transaction
def new_quote(code: str):
    client = client_or_404(code)
    form = QuoteForm()
    options = choices([("", "—"), *rate_card_titles(client).items()])
    if request.method == "GET":
        form.valid_until.data = today() + timedelta(days=30)
    resized = _resized_quote_form(form, request.form.get("action", ""))
    for line in (resized or form).lines:
        line.role.choices = options
    if resized is not None:  # "Add line" or "Remove": the same form again, one line more or less
        return render_template("manager/quote_new.html", client=client, form=resized, preview=None)
    preview = None
    if form.validate_on_submit():
        lines = [billing.QuoteLineRequest(line.role.data, line.unit.data, line.quantity.data)
                 for line in form.lines if line.role.data and line.quantity.data is not None]
        with attempt(form):
            if request.form.get("action") == "preview":
                preview = _price(client, lines)
            else:
                quote = quotes.create_quote(db.session, client, lines, form.valid_until.data, today(),
                                            user=current_user)
                return done(_("Quote %(number)s saved as a draft.", number=quote.number),
                            "manager.quote", number=quote.number)
    status = 200 if preview is not None or request.method == "GET" else 422
    return render_template("manager/quote_new.html", client=client, form=form, preview=preview), status


def _resized_quote_form(form: QuoteForm, action: str) -> QuoteForm | None:
    """The quote form with a line added (``add-line``) or one removed (``remove-N``), the typed values kept;
    None for any other action. Nothing is checked or saved: the page is only shown again."""
    lines = [{"role": line.role.data or "", "unit": line.unit.data or "hour", "quantity": line.quantity.data}
             for line in form.lines]
    if action == "add-line":
        if len(lines) < MAX_QUOTE_LINES:
            lines.append({})
    elif action.startswith("remove-") and action.removeprefix("remove-").isdigit():
        index = int(action.removeprefix("remove-"))
        if 0 <= index < len(lines) and len(lines) > 1:
            del lines[index]
    else:
        return None
    return QuoteForm(formdata=None, data={"lines": lines, "valid_until": form.valid_until.data})


def _price(client: Client, lines) -> billing.QuotePrice:
    """The totals the quote would have, from the card in force today, without saving anything."""
    card = ratecards.card_in_force(db.session, client.currency, today())
    tiers = [(tier.min_hours, tier.percent) for tier in card.volume_discounts]
    return billing.price_quote(lines, ratecards.role_prices(card), tiers)


@blueprint.get("/quotes/<number>")
@roles(*MANAGERS, "finance")
def quote(number: str):
    found = found_or_404(quotes.find_quote, number)
    titles = {role.code: role.title for role in found.rate_card.roles}
    return render_template("manager/quote.html", quote=found, client=found.client, titles=titles,
                           state=quotes.state_on(found, today()))


@blueprint.post("/quotes/<number>/<any(send, accept, decline):action>")
@roles(*MANAGERS, "finance")
@transaction
def move_quote(number: str, action: str):
    found = found_or_404(quotes.find_quote, number)
    if current_user.role == "finance" and action != "accept":  # finance may accept a quote, nothing more
        abort(403)
    if action != "send":
        asked = confirm_decision(found, action, url_for("manager.quote", number=found.number))
        if asked is not None:
            return asked
    move = {"send": quotes.send_quote, "accept": quotes.accept_quote, "decline": quotes.decline_quote}[action]
    with attempt():  # a refused move is flashed
        move(db.session, found, today(), user=current_user)
        flash(_("Quote %(number)s is now %(state)s.", number=found.number, state=label(quotes.state_on(found, today()))), "info")
    return redirect(url_for("manager.quote", number=found.number))


@blueprint.get("/quotes/<number>/pdf")
@roles(*MANAGERS, "finance", "client")
def quote_pdf(number: str):
    found = found_or_404(quotes.find_quote, number)
    return download(render_quote_pdf(found, today()), "application/pdf", f"{found.number}.pdf", "inline")
