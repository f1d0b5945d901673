"""Getting paid, in the pages: payments on an invoice, the aging report, statements of account,
and what the portal shows a client about what it owes."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import billing
from ..extensions import db
from ..models import Invoice
from ..money import Money
from ..pdf import render_statement_pdf
from ..services import payments, receivables
from .boundary import done, transaction
from .common import attempt, client_or_404, confirmation, csv_download, download, found_or_404, roles, today
from .forms import PaymentForm, ReversalForm

blueprint = Blueprint("receivables", __name__)
BUCKET_LABELS = {"current": "Current", "1-30": "1–30 days", "31-60": "31–60 days", "61-90": "61–90 days",
                 "over_90": "Over 90 days"}


# --- payments on the invoice page --------------------------------------------------------


def payment_panel(invoice: Invoice, form: PaymentForm | None = None) -> dict:
    """What the finance invoice page shows about payments: standing, payments, the forms."""
    if invoice.kind != "invoice":
        return {"standing": None}
    rows = payments.payments_of(db.session, invoice)
    return {"standing": payments.standing(db.session, invoice, today()), "payments": rows,
            "reversed": payments.reversed_ids(db.session, rows),
            "payment_form": form or PaymentForm(formdata=None, paid_on=today()),
            "reversal_form": ReversalForm(formdata=None)}


@blueprint.post("/finance/invoices/<number>/payments")
@roles("finance")
@transaction
def record_payment(number: str):
    from .finance import invoice_or_404, invoice_page  # finance imports this module

    found = invoice_or_404(number, "Payments are recorded against invoices, not credit notes.")
    form = PaymentForm()
    if form.validate_on_submit():
        with attempt(form):
            payment = payments.record_payment(db.session, found, form.amount.data, form.paid_on.data,
                                              form.method.data, form.reference.data, current_user,
                                              today=today())
            shown = Money.from_minor(payment.amount_minor, found.currency).format(found.client.locale)
            return done(_("Payment of %(amount)s recorded against %(number)s.", amount=shown, number=found.number),
                        "finance.invoice", number=found.number)
        found = invoice_or_404(number)
    return invoice_page(found, None, 422, payment_form=form)


@blueprint.post("/finance/payments/<int:payment_id>/reverse")
@roles("finance")
@transaction
def reverse_payment(payment_id: int):
    payment = found_or_404(payments.find_payment, payment_id)
    invoice = payment.invoice
    back = url_for("finance.invoice", number=invoice.number)
    form = ReversalForm()
    if not form.validate_on_submit():
        flash(" ".join(map(str, form.reason.errors)) or _("The form expired; try again."), "error")
        return redirect(back)
    shown = Money.from_minor(payment.amount_minor, payment.currency).format(invoice.client.locale)
    asked = confirmation(_("Reverse a payment on %(number)s", number=invoice.number), [
        _("Reverse the payment of %(amount)s received %(day)s on %(number)s.", amount=shown,
          day=payment.paid_on.isoformat(), number=invoice.number),
        _("Reason: %(reason)s", reason=form.reason.data),
        _("The payment stays on record beside its reversal; the amount becomes due again.")],
        back, button=_("Reverse the payment"))
    if asked is not None:
        return asked
    with attempt(form):
        payments.reverse_payment(db.session, payment, form.reason.data, current_user, today=today())
        flash(_("Payment of %(amount)s on %(number)s reversed.", amount=shown, number=invoice.number), "info")
    return redirect(back)


# --- the aging report ----------------------------------------------------------------------


def _as_of() -> date:
    raw = (request.args.get("as_of") or "").strip()
    try:
        return date.fromisoformat(raw) if raw else today()
    except ValueError:
        abort(400, "as_of is a date written YYYY-MM-DD.")


@blueprint.get("/finance/receivables")
@roles("finance")
def aging():
    as_of = _as_of()
    return render_template("receivables/aging.html", as_of=as_of, report=receivables.aging(db.session, as_of),
                           buckets=billing.AGING_BUCKETS, labels=BUCKET_LABELS)


@blueprint.get("/finance/receivables/<currency>/<bucket>")
@roles("finance")
def aging_bucket(currency: str, bucket: str):
    if bucket not in BUCKET_LABELS:
        abort(404)
    as_of = _as_of()
    blocks = [block for block in receivables.aging(db.session, as_of) if block.currency == currency]
    items = [item for block in blocks for item in block.items if item.bucket == bucket]
    return render_template("receivables/bucket.html", as_of=as_of, currency=currency, bucket=bucket,
                           label=BUCKET_LABELS[bucket], items=items,
                           total=sum(item.standing.amount_due for item in items))


CSV_COLUMNS = ("currency", "bucket", "client", "client_name", "invoice", "issued_on", "due_on", "days_past_due",
               "total", "amount_paid", "amount_due", "status")


@blueprint.get("/finance/receivables.csv")
@roles("finance")
def aging_csv():
    as_of = _as_of()
    return csv_download(CSV_COLUMNS, _aging_rows(as_of), f"receivables-{as_of}.csv")


def _aging_rows(as_of: date):
    """The report's rows, a client's name formula-safe (``=HYPERLINK(…)`` is not run)."""
    for block in receivables.aging(db.session, as_of):
        for item in block.items:
            invoice, money = item.invoice, lambda minor, c=block.currency: str(Money.from_minor(minor, c))
            yield (block.currency, item.bucket, invoice.client.code,
                   billing.spreadsheet_safe(invoice.client.name), invoice.number,
                   invoice.issued_on.isoformat(), invoice.due_on.isoformat(),
                   max((as_of - invoice.due_on).days, 0), money(invoice.total_minor),
                   money(item.standing.amount_paid), money(item.standing.amount_due), item.standing.status)


# --- statements of account --------------------------------------------------------------------


def _statement_of(client) -> receivables.Statement:
    """The client's statement from the query's ``from`` to its ``to``, or of the year so far."""
    end = today()
    try:
        start = date.fromisoformat(request.args.get("from") or end.replace(month=1, day=1).isoformat())
        end = date.fromisoformat(request.args.get("to") or end.isoformat())
    except ValueError:
        abort(400, "from and to are dates written YYYY-MM-DD.")
    if start > end:
        abort(400, "from is after to.")
    return receivables.statement(db.session, client, start, end)


@blueprint.get("/finance/clients/<code>/statement")
@roles("finance")
def statement(code: str):
    return _statement_page(client_or_404(code), portal=False)


@blueprint.get("/portal/statement")
@roles("client")
def portal_statement():
    return _statement_page(current_user.client, portal=True)


def _statement_page(client, *, portal: bool):
    return render_template("receivables/statement.html", client=client, statement=_statement_of(client),
                           portal=portal)


@blueprint.get("/statements/<code>.pdf")
@roles("finance", "client")
def statement_pdf(code: str):
    """The statement of account as a PDF in the client's language: finance any client's, a client its own."""
    client = client_or_404(code)  # a client user asking for another client's code gets a 404
    found = _statement_of(client)
    return download(render_statement_pdf(found, current_app.config), "application/pdf",
                    f"statement-{client.code}-{found.start}-{found.end}.pdf")
