"""A client's running balance of incidents, as the account manager and the client's portal show it."""

from __future__ import annotations

from datetime import date

from flask import render_template, request
from werkzeug.datastructures import MultiDict

from .. import billing
from ..extensions import db
from ..models import Client
from ..services.history import balance_history
from .common import csv_download, page_words, today, viewer_zone
from .forms import HistoryFilterForm, _


def kind_labels() -> dict[str, str]:
    """What each kind of entry is called on the page and in the CSV."""
    return {
        "purchase": _("Bundle bought"),
        "rollover_in": _("Rolled over from the last term"),
        "rollover_out": _("Rolled over into the next term"),
        "expiry": _("Expired at the term's end"),
        "charge": _("Charge"),
        "overage": _("Overage (billed on the invoice)"),
        "reversal": _("Waived (charge reversed)"),
    }


def _filter_form(client: Client) -> tuple[HistoryFilterForm, date, date, list[str]]:
    """The filter as typed, and the range and kinds it gives; a wrong value is named beside its field."""
    form = HistoryFilterForm(MultiDict(request.args))
    form.kind.choices = list(kind_labels().items())
    start, end, kinds = client.term_start, today(), []
    if form.validate():
        start, end = form.start.data or start, form.end.data or end
        kinds = list(form.kind.data or [])
        if start > end:
            form.end.errors.append(_("The end is before the start."))
            start, end = client.term_start, today()
        else:  # the inputs show the range the rows are for
            form.start.data, form.end.data = start, end
    return form, start, end, kinds


def history_page(client: Client, csv_url: str, *, portal: bool):
    """The page: the filter, the opening balance, each row with the balance after it, the closing one."""
    form, start, end, kinds = _filter_form(client)
    history = balance_history(db.session, client, start, end, kinds, page_words(), viewer_zone())
    return render_template("history/balance.html", client=client, form=form, history=history, start=start,
                           end=end, labels=kind_labels(), csv_url=csv_url, portal=portal,
                           describe=describe_row), 400 if form.errors else 200


def describe_row(movement: billing.Movement) -> str:
    """The kind of a row in words, with what the entry says about itself."""
    label = kind_labels()[movement.kind]
    return f"{label}: {movement.memo}" if movement.memo else label


CSV_COLUMNS = ("date", "kind", "what", "case", "incidents", "balance")


def history_csv(client: Client, *, portal: bool):
    """The same rows as the page (opening and closing included), every text cell formula-safe."""
    form, start, end, kinds = _filter_form(client)
    if form.errors:  # the page names the wrong field; a CSV could not
        return history_page(client, request.path, portal=portal)
    history = balance_history(db.session, client, start, end, kinds, page_words(), viewer_zone())
    safe = billing.spreadsheet_safe
    rows = [(start.isoformat(), "opening", safe(_("Opening balance")), "", "", history.opening)]
    rows += [(row.movement.effective_on.isoformat(), row.movement.kind, safe(describe_row(row.movement)),
              safe(row.movement.case), row.movement.quantity, row.balance) for row in history.rows]
    rows.append((end.isoformat(), "closing", safe(_("Closing balance")), "", "", history.closing))
    return csv_download(CSV_COLUMNS, rows,
                        f"{client.code}-incidents-{start.isoformat()}-{end.isoformat()}.csv")
