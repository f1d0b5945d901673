"""Exports for the accounting system: one CSV row per invoice line."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..models import Invoice
from ..money import Money

COLUMNS = ("number", "kind", "issue_date", "client", "description", "quantity", "unit_price", "amount",
           "tax", "total", "currency", "refers_to")


def invoices_of_month(session: Session, period: billing.Period | str) -> list[Invoice]:
    """Invoices and credit notes of ``period``, in number order."""
    period = period if isinstance(period, billing.Period) else billing.Period.parse(period)
    return list(session.scalars(
        select(Invoice).where(Invoice.period == str(period)).order_by(Invoice.kind, Invoice.number)
        .options(selectinload(Invoice.lines), selectinload(Invoice.client), selectinload(Invoice.refers_to))
    ))


def export_csv(session: Session, period: billing.Period | str) -> str:
    """The month as CSV text: a header, then a row per line; tax and total are the document's."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for invoice in invoices_of_month(session, period):
        money = lambda minor: str(Money.from_minor(minor, invoice.currency))  # noqa: E731,B023
        for line in invoice.lines:
            writer.writerow((
                invoice.number, invoice.kind, invoice.issued_on.isoformat(), invoice.client.code,
                line.description, format(line.quantity.normalize(), "f"), money(line.unit_price_minor),
                money(line.amount_minor), money(invoice.tax_minor), money(invoice.total_minor),
                invoice.currency, invoice.refers_to.number if invoice.refers_to else "",
            ))
    return out.getvalue()
