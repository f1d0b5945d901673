"""Composing and issuing invoices and credit notes.

An invoice bills everything billable up to the end of its month that no earlier
invoice billed: bundles, accepted quotes, the maintenance fee of a term renewing
that month, incident overage and professional-service overage. Each billed source
is recorded under a unique key, so nothing is ever billed twice, even when two
batches run at once or a charge is posted late for a month already invoiced.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing, metrics
from ..billing import LineDraft
from ..errors import N_, Conflict, ValidationError
from ..models import BillableItem, Bundle, Client, Entry, Invoice, InvoiceLine, InvoiceSource, User
from ..money import Money, exponent
from . import access, archive, einvoicing, mail
from .ledger import lock_client
from .numbers import next_number
from .ratecards import card_in_force
from .statement import usage_statement
from .vendor import get_vendor, require_complete


@dataclass
class Draft:
    """What an invoice would hold if issued now: a preview, nothing stored."""

    client: Client
    period: str
    lines: list[billing.LineDraft]
    totals: billing.Totals
    #: the named tax components with their amounts, in print order
    taxes: tuple[billing.TaxLine, ...] = ()

    @property
    def billable(self) -> bool:
        return bool(self.lines)


def compose(session: Session, client: Client, period: billing.Period | str) -> Draft:
    """The invoice ``client`` would get for ``period``: lines in print order and totals."""
    period = as_period(period)
    billed = _billed_keys(session, client)
    cards = functools.cache(lambda day: card_in_force(session, client.currency, day))  # each day looked up once
    candidates = [
        *_bundle_lines(session, client, period.end),
        *_item_lines(session, client, period.end),
        *_maintenance_lines(client, period),
        *_incident_overage_lines(session, client, period.end, billed, cards),
        *_hours_overage_lines(session, client, period.end, billed, cards),
    ]
    composed = billing.compose_invoice(candidates, billed, client.tax_rate, exponent(client.currency))
    # tax is the sum of the client's components, each rounded half-up on its own
    taxes = einvoicing.client_taxes(client, composed.totals.subtotal)
    return Draft(client, str(period), list(composed.lines), billing.taxed_totals(composed.totals.subtotal, taxes),
                 taxes)


def as_period(period: billing.Period | str) -> billing.Period:
    """A Period, parsing text strictly (callers at the edge pass a Period already)."""
    return period if isinstance(period, billing.Period) else billing.Period.parse(period)


def _billed_keys(session: Session, client: Client) -> set[str]:
    statement = (
        select(InvoiceSource.key).join(Invoice, Invoice.id == InvoiceSource.invoice_id)
        .where(Invoice.client_id == client.id)
    )
    return set(session.scalars(statement))


def _money(minor: int, client: Client) -> Decimal:
    return Money.from_minor(minor, client.currency).amount


def _bundle_lines(session, client, last) -> list[LineDraft]:
    bundles = session.scalars(
        select(Bundle).where(Bundle.client_id == client.id, Bundle.purchased_on <= last).order_by(Bundle.id)
    )
    return [LineDraft("bundle", f"Service & Support Incidents: bundle of {bundle.quantity}, "
                                f"purchased {bundle.purchased_on.isoformat()}",
                      Decimal(bundle.quantity), _money(bundle.unit_price_minor, client),
                      _money(bundle.unit_price_minor, client) * bundle.quantity, (f"bundle:{bundle.id}",))
            for bundle in bundles]


def _item_lines(session, client, last) -> list[LineDraft]:
    items = session.scalars(
        select(BillableItem)
        .where(BillableItem.client_id == client.id, BillableItem.billable_on <= last)
        .order_by(BillableItem.id)
    )
    return [
        LineDraft("quote", item.description, item.quantity, _money(item.unit_price_minor, client),
                  _money(item.amount_minor, client), (f"item:{item.id}",))
        for item in items
    ]


def _maintenance_lines(client, period: billing.Period) -> list[LineDraft]:
    term = billing.maintenance_term(client.term_start, period)
    if term is None or not client.maintenance_fee_minor:
        return []
    key = f"maintenance:{client.id}:{term.start.isoformat()}"
    fee = _money(client.maintenance_fee_minor, client)
    return [LineDraft("maintenance", f"Annual software maintenance, {term.start.isoformat()} "
                                     f"to {term.end.isoformat()}", Decimal(1), fee, fee, (key,))]


def _unbilled_overage(session, client, unit: str, last, billed) -> list[Entry]:
    entries = session.scalars(
        select(Entry).where(Entry.client_id == client.id, Entry.unit == unit, Entry.lot_id.is_(None),
                            Entry.effective_on <= last).order_by(Entry.id)
    )
    return [entry for entry in entries if f"entry:{entry.id}" not in billed]


def _incident_overage_lines(session, client, last, billed, cards) -> list[LineDraft]:
    charges = [
        billing.OverageCharge((cards(entry.effective_on).overage_price_minor,), f"entry:{entry.id}",
                              -entry.quantity)
        for entry in _unbilled_overage(session, client, "incident", last, billed)
    ]
    return [LineDraft("incident_overage", f"Incident overage: {group.quantity} beyond the balance",
                      Decimal(group.quantity), _money(group.group[0], client),
                      _money(group.group[0], client) * group.quantity, group.sources)
            for group in billing.group_overage(charges)]


def _hours_overage_lines(session, client, last, billed, cards) -> list[LineDraft]:
    charges, titles = [], {}
    for entry in _unbilled_overage(session, client, "minute", last, billed):
        card = cards(entry.effective_on)
        role = next((r for r in card.roles if r.code == entry.role), None)
        if role is None:
            raise ValidationError(N_("role %(role)r is not on the %(currency)s rate card"), "role",
                                  role=entry.role, currency=card.currency)
        titles[entry.role] = role.title
        charges.append(billing.OverageCharge((entry.role, role.hourly_minor), f"entry:{entry.id}", -entry.quantity))
    lines = []
    for group in billing.group_overage(charges):
        (role, hourly_minor), minutes = group.group, group.quantity
        hourly = _money(hourly_minor, client)
        hours = (Decimal(minutes) / 60).quantize(Decimal("0.0001"))
        lines.append(LineDraft(
            "hours_overage", f"{titles[role]}: {_hours_text(minutes)} beyond prepaid hours",
            hours, hourly, billing.hours_amount(minutes, hourly, exponent(client.currency)), group.sources))
    return lines


def _hours_text(minutes: int) -> str:
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    return f"{sign}{hours} h {rest:02d} min" if rest else f"{sign}{hours} h"


# --- issuing -----------------------------------------------------------------------


def find_invoice(session: Session, number: str, user: User) -> Invoice:
    """The invoice or credit note if ``user`` may see its client; NotFound otherwise."""
    return access.find(session, Invoice, user, number)


def issue_invoice(
    session: Session, client: Client, period: billing.Period | str, today: date, user: User | None = None,
) -> Invoice | None:
    """Issue ``client``'s invoice for ``period`` with the next number, or None if nothing is billable.

    Holds the client's lock, so a second batch waits and then finds the invoice issued. Refused
    with VendorIncomplete (409) before a number is taken while the vendor's profile is incomplete.
    """
    period = check_period(period, today)
    vendor = get_vendor(session)
    require_complete(vendor)
    client = lock_client(session, client)
    existing = session.scalar(
        select(Invoice.id).where(Invoice.client_id == client.id, Invoice.period == str(period),
                                 Invoice.kind == "invoice")
    )
    if existing is not None:
        return None
    draft = compose(session, client, period)
    if not draft.billable:
        return None
    if client.reverse_charge and not client.vat_id:
        raise ValidationError(N_("%(code)s is invoiced under the reverse charge, which needs its VAT ID"),
                              "vat_id", code=client.code)
    statement = usage_statement(session, client, period)
    snapshot = einvoicing.take_snapshot(einvoicing.seller_snapshot(vendor), einvoicing.buyer_snapshot(client),
                                        period, today, draft.taxes)
    number = next_number(session, f"invoice-{today.year}")
    invoice = _store(session, draft, billing.document_number("invoice", today.year, number), "invoice", today,
                     user, statement=statement, snapshot=snapshot)
    session.flush()
    mail.queue_invoice_mail(session, invoice)  # the e-mail is queued with the invoice, or not at all
    return invoice


def _store(session: Session, draft: Draft, number: str, kind: str, today: date, user: User | None,
           snapshot: dict, refers_to: Invoice | None = None, reason: str = "",
           statement: dict | None = None) -> Invoice:
    client = draft.client
    minor = lambda amount: Money(amount, client.currency).minor
    invoice = Invoice(
        number=number, kind=kind, client_id=client.id, period=draft.period, issued_on=today,
        due_on=date.fromisoformat(snapshot["due_on"]), currency=client.currency,
        tax_rate=sum((tax.rate for tax in draft.taxes), Decimal(0)), subtotal_minor=minor(draft.totals.subtotal),
        tax_minor=minor(draft.totals.tax), total_minor=minor(draft.totals.total),
        refers_to=refers_to, reason=reason, statement=statement or {}, snapshot=snapshot,
        issued_by_id=user.id if user else None,
    )
    session.add(invoice)
    metrics.invoice_issued(session, kind)
    for position, line in enumerate(draft.lines, start=1):
        session.add(InvoiceLine(
            invoice=invoice, position=position, kind=line.kind, description=line.description,
            quantity=line.quantity, unit_price_minor=minor(line.unit_price), amount_minor=minor(line.amount),
            credits_line_id=line.credits_line_id,
        ))
        session.add_all(InvoiceSource(invoice=invoice, key=key) for key in line.sources)
    return invoice


def check_period(period: billing.Period | str, today: date) -> billing.Period:
    """The period, refused if malformed or not begun yet."""
    period = as_period(period)
    billing.check_period_begun(period, today)
    return period


# --- credit notes ------------------------------------------------------------------


def issue_credit_note(
    session: Session, invoice: Invoice, reason: str, line_positions: list[int] | None, today: date,
    user: User | None = None, archive_config=None,
) -> Invoice:
    """Credit the lines at ``line_positions``, or all not yet credited, with a reason; each line once.

    Together, an invoice's credit notes never credit more than it charged: the one that credits
    its last line takes exactly what is left of the tax. With ``archive_config`` (the app's
    config) the note's PDF is archived in the same transaction, so a download only reads.
    """
    if invoice.kind != "invoice":
        raise Conflict(N_("only an invoice can be credited"), "number")
    if not reason.strip():
        raise ValidationError(N_("a credit note needs a reason"), "reason")
    vendor = get_vendor(session)
    require_complete(vendor)
    client = lock_client(session, invoice.client)
    earlier = session.scalars(select(Invoice).where(Invoice.refers_to_id == invoice.id)).all()
    credited = {line.credits_line_id for note in earlier for line in note.lines}
    chosen = _chosen_lines(invoice, line_positions, credited)
    currency = invoice.currency
    amount = lambda minor: Money.from_minor(minor, currency).amount
    lines = [
        billing.LineDraft("credit", f"Credit: {line.description}", line.quantity, -amount(line.unit_price_minor),
                          -amount(line.amount_minor), credits_line_id=line.id)
        for line in chosen
    ]
    positive, taxes = billing.credit_taxes(
        _totals(invoice).subtotal, _credited(earlier).subtotal, einvoicing.invoice_taxes(invoice),
        _credited_taxes(invoice, earlier), [-line.amount for line in lines],
        last=len(credited) + len(chosen) == len(invoice.lines), exponent=exponent(currency))
    taxes = tuple(billing.TaxLine(tax.name, tax.rate, -tax.amount) for tax in taxes)
    totals = billing.Totals(-positive.subtotal, -positive.tax, -positive.total)
    snapshot = _credit_snapshot(invoice, vendor, today, taxes)
    number = next_number(session, f"credit-note-{today.year}")
    note = _store(session, Draft(client, invoice.period, lines, totals, taxes),
                  billing.document_number("credit_note", today.year, number), "credit_note", today, user,
                  snapshot=snapshot, refers_to=invoice, reason=reason.strip())
    session.flush()
    mail.queue_invoice_mail(session, note)  # the e-mail is queued with the note, or not at all
    if archive_config is not None:
        archive.archive_now(session, note, archive_config)
    return note


def _totals(invoice: Invoice) -> billing.Totals:
    amount = lambda minor: Money.from_minor(minor, invoice.currency).amount
    return billing.Totals(amount(invoice.subtotal_minor), amount(invoice.tax_minor), amount(invoice.total_minor))


def _credited(notes: list[Invoice]) -> billing.Totals:
    """What ``notes`` credited, as positive totals."""
    totals = [_totals(note) for note in notes]
    return billing.Totals(-sum((t.subtotal for t in totals), Decimal(0)), -sum((t.tax for t in totals), Decimal(0)),
                          -sum((t.total for t in totals), Decimal(0)))


def _credited_taxes(invoice: Invoice, notes: list[Invoice]) -> list[Decimal]:
    """What ``notes`` credited of each of the invoice's tax components, in order, positive."""
    credited = [Decimal(0)] * len(einvoicing.invoice_taxes(invoice))
    for note in notes:
        for index, tax in enumerate(einvoicing.invoice_taxes(note)):
            credited[index] -= tax.amount
    return credited


def _credit_snapshot(invoice: Invoice, vendor, today: date, taxes: tuple[billing.TaxLine, ...]) -> dict:
    """A credit note's snapshot: today's seller, the buyer and service period of the invoice it corrects."""
    printed = einvoicing.snapshot_of(invoice)
    snapshot = einvoicing.take_snapshot(einvoicing.seller_snapshot(vendor), printed["buyer"],
                                        as_period(invoice.period), today, taxes)
    return {**snapshot, "service_period": printed["service_period"]}


def _chosen_lines(invoice: Invoice, positions: list[int] | None, credited: set[int]) -> list[InvoiceLine]:
    """The lines to credit: those at ``positions``, or every line not credited yet."""
    if positions is None:
        chosen = [line for line in invoice.lines if line.id not in credited]
        if not chosen:
            raise Conflict(N_("every line of %(number)s has been credited already"), "lines", number=invoice.number)
        return chosen
    by_position = {line.position: line for line in invoice.lines}
    if not positions or len(set(positions)) != len(positions):
        raise ValidationError(N_("lines lists each line position once"), "lines")
    missing = [p for p in positions if p not in by_position]
    if missing:
        raise ValidationError(N_("invoice %(number)s has no line %(line)s"), "lines", number=invoice.number,
                              line=missing[0])
    chosen = [by_position[p] for p in sorted(positions)]
    if any(line.id in credited for line in chosen):
        raise Conflict(N_("a chosen line has been credited already"), "lines")
    return chosen
