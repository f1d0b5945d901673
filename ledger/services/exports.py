"""Exports for the accounting system: one CSV row per invoice line, with the line's share of the tax."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..models import Invoice
from ..money import Money, exponent
from .einvoicing import snapshot_of

COLUMNS = ("number", "kind", "issue_date", "due_date", "client", "client_name", "client_tax_id", "description",
           "quantity", "unit_price", "amount", "line_tax", "tax", "total", "currency", "refers_to")


def invoices_of_month(session: Session, period: billing.Period | str) -> list[Invoice]:
    """Invoices and credit notes of ``period``, in number order."""
    period = period if isinstance(period, billing.Period) else billing.Period.parse(period)
    return list(session.scalars(
        select(Invoice).where(Invoice.period == str(period)).order_by(Invoice.kind, Invoice.number)
        .options(selectinload(Invoice.lines), selectinload(Invoice.client), selectinload(Invoice.refers_to))
    ))


def export_csv(session: Session, period: billing.Period | str) -> str:
    """The month as CSV text: a header, then a row per line.

    ``line_tax`` is the line's share of the document's tax (they add up to ``tax``); ``tax`` and
    ``total`` are the document's; the client's name and tax ID are those the document printed.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for invoice in invoices_of_month(session, period):
        money = lambda minor, currency=invoice.currency: str(Money.from_minor(minor, currency))
        amount = lambda minor, currency=invoice.currency: Money.from_minor(minor, currency).amount
        buyer = snapshot_of(invoice)["buyer"]
        shares = billing.line_tax_shares([amount(line.amount_minor) for line in invoice.lines],
                                         amount(invoice.tax_minor), exponent(invoice.currency))
        for line, share in zip(invoice.lines, shares, strict=True):
            writer.writerow((
                invoice.number, invoice.kind, invoice.issued_on.isoformat(), invoice.due_on.isoformat(),
                invoice.client.code, buyer["name"], buyer["vat_id"], line.description,
                format(line.quantity.normalize(), "f"), money(line.unit_price_minor), money(line.amount_minor),
                str(Money(share, invoice.currency)), money(invoice.tax_minor), money(invoice.total_minor),
                invoice.currency, invoice.refers_to.number if invoice.refers_to else "",
            ))
    return out.getvalue()
