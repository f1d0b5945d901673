"""Composing and issuing invoices and credit notes.

An invoice bills everything billable up to the end of its month that no earlier
invoice billed: bundles, accepted quotes, the maintenance fee of a term renewing
that month, incident overage and professional-service overage. Each billed source
is recorded under a unique key, so nothing is ever billed twice, even when two
batches run at once or a charge is posted late for a month already invoiced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing
from ..errors import Conflict, NotFound, ValidationError
from ..models import BillableItem, Bundle, Client, Entry, Invoice, InvoiceLine, InvoiceSource, RateCard, User
from ..money import Money, exponent
from .clients import visible_clients
from .ledger import lock_client
from .numbers import next_number
from .ratecards import card_in_force
from .statement import usage_statement


@dataclass
class DraftLine:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    #: keys of what the line bills (one per bundle, item, entry, maintenance year)
    sources: list[str] = field(default_factory=list)


@dataclass
class Draft:
    """What an invoice would hold if issued now: a preview, nothing stored."""

    client: Client
    period: str
    lines: list[DraftLine]
    totals: billing.Totals

    @property
    def billable(self) -> bool:
        return bool(self.lines)


def compose(session: Session, client: Client, period: str) -> Draft:
    """The invoice ``client`` would get for ``period``: lines in print order and totals."""
    first, last = billing.month_bounds(period)
    billed = _billed_keys(session, client)
    cards = _CardBook(session, client.currency)
    lines = [
        *_bundle_lines(session, client, last, billed),
        *_item_lines(session, client, last, billed),
        *_maintenance_lines(client, first, last, billed),
        *_incident_overage_lines(session, client, last, billed, cards),
        *_hours_overage_lines(session, client, last, billed, cards),
    ]
    lines = [line for line in lines if line.amount or line.quantity]
    totals = billing.invoice_totals([line.amount for line in lines], client.tax_rate, exponent(client.currency))
    return Draft(client, period, lines, totals)


def _billed_keys(session: Session, client: Client) -> set[str]:
    statement = (
        select(InvoiceSource.key).join(Invoice, Invoice.id == InvoiceSource.invoice_id)
        .where(Invoice.client_id == client.id)
    )
    return set(session.scalars(statement))


class _CardBook:
    """Rate cards by day, looked up once each."""

    def __init__(self, session: Session, currency: str):
        self.session, self.currency, self.cache = session, currency, {}

    def on(self, day: date) -> RateCard:
        if day not in self.cache:
            self.cache[day] = card_in_force(self.session, self.currency, day)
        return self.cache[day]


def _money(minor: int, client: Client) -> Decimal:
    return Money.from_minor(minor, client.currency).amount


def _bundle_lines(session, client, last, billed) -> list[DraftLine]:
    bundles = session.scalars(
        select(Bundle).where(Bundle.client_id == client.id, Bundle.purchased_on <= last).order_by(Bundle.id)
    )
    lines = []
    for bundle in bundles:
        key = f"bundle:{bundle.id}"
        if key in billed:
            continue
        price = _money(bundle.unit_price_minor, client)
        lines.append(DraftLine(
            "bundle", f"Service & Support Incidents: bundle of {bundle.quantity}, "
                      f"purchased {bundle.purchased_on.isoformat()}",
            Decimal(bundle.quantity), price, price * bundle.quantity, [key]))
    return lines


def _item_lines(session, client, last, billed) -> list[DraftLine]:
    items = session.scalars(
        select(BillableItem)
        .where(BillableItem.client_id == client.id, BillableItem.billable_on <= last)
        .order_by(BillableItem.id)
    )
    return [
        DraftLine("quote", item.description, item.quantity, _money(item.unit_price_minor, client),
                  _money(item.amount_minor, client), [f"item:{item.id}"])
        for item in items if f"item:{item.id}" not in billed
    ]


def _maintenance_lines(client, first, last, billed) -> list[DraftLine]:
    term = billing.term_containing(client.term_start, last)
    key = f"maintenance:{client.id}:{term.start.isoformat()}"
    if not first <= term.start <= last or key in billed or not client.maintenance_fee_minor:
        return []
    fee = _money(client.maintenance_fee_minor, client)
    return [DraftLine("maintenance", f"Annual software maintenance, {term.start.isoformat()} "
                                     f"to {term.end.isoformat()}", Decimal(1), fee, fee, [key])]


def _unbilled_overage(session, client, unit: str, last, billed) -> list[Entry]:
    entries = session.scalars(
        select(Entry).where(Entry.client_id == client.id, Entry.unit == unit, Entry.lot_id.is_(None),
                            Entry.effective_on <= last).order_by(Entry.id)
    )
    return [entry for entry in entries if f"entry:{entry.id}" not in billed]


def _incident_overage_lines(session, client, last, billed, cards) -> list[DraftLine]:
    by_price: dict[int, list[Entry]] = defaultdict(list)
    for entry in _unbilled_overage(session, client, "incident", last, billed):
        by_price[cards.on(entry.effective_on).overage_price_minor].append(entry)
    lines = []
    for price_minor, entries in sorted(by_price.items()):
        incidents = -sum(e.quantity for e in entries)
        price = _money(price_minor, client)
        lines.append(DraftLine("incident_overage", f"Incident overage: {incidents} beyond the balance",
                               Decimal(incidents), price, price * incidents,
                               [f"entry:{e.id}" for e in entries]))
    return lines


def _hours_overage_lines(session, client, last, billed, cards) -> list[DraftLine]:
    groups: dict[tuple[str, int], list[Entry]] = defaultdict(list)
    titles: dict[str, str] = {}
    for entry in _unbilled_overage(session, client, "minute", last, billed):
        card = cards.on(entry.effective_on)
        role = next((r for r in card.roles if r.code == entry.role), None)
        if role is None:
            raise ValidationError(f"role {entry.role!r} is not on the {card.currency} rate card", "role")
        titles[entry.role] = role.title
        groups[(entry.role, role.hourly_minor)].append(entry)
    lines = []
    for (role, hourly_minor), entries in sorted(groups.items()):
        minutes = -sum(e.quantity for e in entries)
        hourly = _money(hourly_minor, client)
        hours = (Decimal(minutes) / 60).quantize(Decimal("0.0001"))
        lines.append(DraftLine(
            "hours_overage", f"{titles[role]}: {_hours_text(minutes)} beyond prepaid hours",
            hours, hourly, billing.hours_amount(minutes, hourly, exponent(client.currency)),
            [f"entry:{e.id}" for e in entries]))
    return lines


def _hours_text(minutes: int) -> str:
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    return f"{sign}{hours} h {rest:02d} min" if rest else f"{sign}{hours} h"


# --- issuing -----------------------------------------------------------------------


def find_invoice(session: Session, number: str, user: User) -> Invoice:
    """The invoice or credit note if ``user`` may see its client; NotFound otherwise."""
    visible = visible_clients(user).with_only_columns(Client.id)
    invoice = session.scalar(select(Invoice).where(Invoice.number == number, Invoice.client_id.in_(visible)))
    if invoice is None:
        raise NotFound(f"no invoice {number!r}", "number")
    return invoice


def issue_invoice(
    session: Session, client: Client, period: str, today: date, user: User | None = None,
) -> Invoice | None:
    """Issue ``client``'s invoice for ``period`` with the next number, or None if nothing is billable.

    Holds the client's lock, so a second batch waits and then finds the invoice issued.
    """
    client = lock_client(session, client)
    existing = session.scalar(
        select(Invoice.id).where(Invoice.client_id == client.id, Invoice.period == period,
                                 Invoice.kind == "invoice")
    )
    if existing is not None:
        return None
    draft = compose(session, client, period)
    if not draft.billable:
        return None
    statement = usage_statement(session, client, period)
    number = next_number(session, f"invoice-{today.year}")
    invoice = _store(session, draft, f"INV-{today.year}-{number:05d}", "invoice", today, user,
                     statement=statement)
    session.flush()
    return invoice


def _store(session: Session, draft: Draft, number: str, kind: str, today: date, user: User | None,
           refers_to: Invoice | None = None, reason: str = "", statement: dict | None = None) -> Invoice:
    client = draft.client
    minor = lambda amount: Money(amount, client.currency).minor  # noqa: E731
    invoice = Invoice(
        number=number, kind=kind, client_id=client.id, period=draft.period, issued_on=today,
        due_on=today + timedelta(days=billing.PAYMENT_TERMS_DAYS), currency=client.currency,
        tax_rate=client.tax_rate, subtotal_minor=minor(draft.totals.subtotal),
        tax_minor=minor(draft.totals.tax), total_minor=minor(draft.totals.total),
        refers_to=refers_to, reason=reason, statement=statement or {}, issued_by_id=user.id if user else None,
    )
    session.add(invoice)
    for position, line in enumerate(draft.lines, start=1):
        session.add(InvoiceLine(
            invoice=invoice, position=position, kind=line.kind, description=line.description,
            quantity=line.quantity, unit_price_minor=minor(line.unit_price), amount_minor=minor(line.amount),
            credits_line_id=getattr(line, "credits_line_id", None),
        ))
        session.add_all(InvoiceSource(invoice=invoice, key=key) for key in line.sources)
    return invoice


@dataclass(frozen=True)
class IssueResult:
    issued: list[Invoice]
    skipped: list[str]


def check_period(period: str, today: date) -> None:
    """Refuse a malformed period, or one that has not begun."""
    first, _ = billing.month_bounds(period)
    if first > today:
        raise ValidationError(f"{period} has not begun yet", "period")


def issue_month(session: Session, period: str, today: date, user: User | None = None) -> IssueResult:
    """Issue every client's invoice for ``period``; clients with nothing billable are skipped."""
    check_period(period, today)
    issued, skipped = [], []
    for client in session.scalars(select(Client).order_by(Client.code)).all():
        invoice = issue_invoice(session, client, period, today, user)
        if invoice is None:
            skipped.append(client.code)
        else:
            issued.append(invoice)
    return IssueResult(issued, skipped)


# --- credit notes ------------------------------------------------------------------


@dataclass
class CreditLine(DraftLine):
    credits_line_id: int | None = None


def issue_credit_note(
    session: Session, invoice: Invoice, reason: str, line_positions: list[int] | None, today: date,
    user: User | None = None,
) -> Invoice:
    """Credit the whole invoice, or the lines at ``line_positions``, with a reason; each line once."""
    if invoice.kind != "invoice":
        raise Conflict("only an invoice can be credited", "number")
    if not reason.strip():
        raise ValidationError("a credit note needs a reason", "reason")
    client = lock_client(session, invoice.client)
    credited = set(session.scalars(select(InvoiceLine.credits_line_id).where(
        InvoiceLine.credits_line_id.in_([line.id for line in invoice.lines]))))
    chosen = _chosen_lines(invoice, line_positions)
    if any(line.id in credited for line in chosen):
        raise Conflict("a chosen line has been credited already", "lines")
    currency = invoice.currency
    lines = [
        CreditLine("credit", f"Credit: {line.description}", line.quantity,
                   -Money.from_minor(line.unit_price_minor, currency).amount,
                   -Money.from_minor(line.amount_minor, currency).amount, credits_line_id=line.id)
        for line in chosen
    ]
    totals = billing.invoice_totals([line.amount for line in lines], invoice.tax_rate, exponent(currency))
    draft = Draft(client, invoice.period, lines, totals)
    number = next_number(session, f"credit-note-{today.year}")
    note = _store(session, draft, f"CN-{today.year}-{number:05d}", "credit_note", today, user,
                  refers_to=invoice, reason=reason.strip())
    session.flush()
    return note


def _chosen_lines(invoice: Invoice, positions: list[int] | None) -> list[InvoiceLine]:
    if positions is None:
        return list(invoice.lines)
    by_position = {line.position: line for line in invoice.lines}
    if not positions or len(set(positions)) != len(positions):
        raise ValidationError("lines lists each line position once", "lines")
    missing = [p for p in positions if p not in by_position]
    if missing:
        raise ValidationError(f"invoice {invoice.number} has no line {missing[0]}", "lines")
    return [by_position[p] for p in sorted(positions)]
