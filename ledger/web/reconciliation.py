"""Bank reconciliation in the pages: finance uploads a bank CSV, sees the proposed matches and the
lines left for a decision, and confirms; only then are the matches posted as payments."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import bankcsv
from ..extensions import db
from ..money import Money, is_currency
from ..services import reconciliation
from .boundary import ONCE_FIELD, done, transaction
from .common import allow_upload, only_for, today
from .forms import BankFileForm

blueprint = Blueprint("reconciliation", __name__)
only_for(blueprint, "finance")
#: the body limit of the upload and of its confirmation (which carries the file's text again);
#: above the file's own limit, so a file too big is refused by name, not with a bare 413
UPLOAD_BODY_LIMIT = 2 * bankcsv.MAX_BYTES + 64 * 1024
allow_upload(blueprint, "reconciliation.upload", UPLOAD_BODY_LIMIT)


def _page(form: BankFileForm, errors: list[str] | None = None, status: int = 200):
    return render_template("receivables/reconciliation.html", form=form, errors=errors or [],
                           max_rows=bankcsv.MAX_ROWS), status


@blueprint.get("/finance/reconciliation")
def index():
    return _page(BankFileForm(formdata=None, currency=current_app.config.get("HOME_CURRENCY", "USD")))


@blueprint.post("/finance/reconciliation")
@transaction
def upload():
    if request.form.get("confirmed") == "yes":
        return _confirmed()
    form = BankFileForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    currency = form.currency.data.strip().upper()
    if not is_currency(currency):
        form.currency.errors = [f"{currency!r} is not an ISO 4217 currency code."]
        return _page(form, status=422)
    with form.file.data.stream as upload_stream:  # a large upload is spooled to a temporary file: close it
        data = upload_stream.read(bankcsv.MAX_BYTES + 1)
    try:
        lines = bankcsv.parse_bank_csv(data, currency)
    except bankcsv.BankFileError as error:
        return _page(form, error.errors, 422)
    proposals = reconciliation.propose(db.session, lines, today())
    return render_template(
        "receivables/reconciliation_preview.html", currency=currency, content=data.decode("utf-8-sig"),
        matched=[p for p in proposals if p.matched], undecided=[p for p in proposals if not p.matched],
        once=request.form.get(ONCE_FIELD, ""), shown=_shown)


def _confirmed():
    """The second step: parse the same text again, propose again (the books may have moved) and post."""
    currency = (request.form.get("currency") or "").strip().upper()
    back = url_for("reconciliation.index")
    try:
        if not is_currency(currency):
            raise bankcsv.BankFileError([f"{currency!r} is not an ISO 4217 currency code"])
        lines = bankcsv.parse_bank_csv((request.form.get("content") or "").encode("utf-8"), currency)
    except bankcsv.BankFileError as error:
        flash("Nothing was posted: " + "; ".join(error.errors), "error")
        return redirect(back)
    posted = reconciliation.post_matches(db.session, lines, current_user, today())
    return done(f"{len(posted)} payment(s) posted from the bank file.", url=back)


def _shown(proposal: bankcsv.Proposal) -> str:
    return Money.from_minor(proposal.amount_minor, proposal.line.currency).format("en_US")
