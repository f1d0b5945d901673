"""Recording payments against invoices, and reversing them; an invoice's standing derived from them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from .. import billing
from ..db import lock_row
from ..errors import N_, Conflict, NotFound, ValidationError
from ..models import Invoice, Payment, User
from ..money import Money
from .access import visible

MAX_METHOD, MAX_REFERENCE = 40, 200


def standings(session: Session, invoices: Iterable[Invoice], today: date,
              until: date | None = None) -> dict[int, billing.Standing]:
    """Each invoice's standing by id, in two queries; a credit note stands ``credited`` with nothing due.

    With ``until``, only payments and credit notes dated by then count (the books as they stood).
    """
    invoices = list(invoices)
    ids = [invoice.id for invoice in invoices if invoice.kind == "invoice"]
    paid, credited = {}, {}
    if ids:
        payments = select(Payment.invoice_id, func.sum(Payment.amount_minor)).where(Payment.invoice_id.in_(ids))
        note = aliased(Invoice)
        notes = select(note.refers_to_id, -func.sum(note.total_minor)).where(note.refers_to_id.in_(ids))
        if until is not None:
            payments = payments.where(Payment.paid_on <= until)
            notes = notes.where(note.issued_on <= until)
        paid = dict(session.execute(payments.group_by(Payment.invoice_id)).all())
        credited = dict(session.execute(notes.group_by(note.refers_to_id)).all())
    return {
        invoice.id: (billing.invoice_standing(invoice.total_minor, int(credited.get(invoice.id) or 0),
                                              int(paid.get(invoice.id) or 0), invoice.due_on, today)
                     if invoice.kind == "invoice" else billing.Standing("credited", 0, 0))
        for invoice in invoices
    }


def standing(session: Session, invoice: Invoice, today: date) -> billing.Standing:
    """One invoice's status, amount paid and amount due (minor units) on ``today``."""
    return standings(session, [invoice], today)[invoice.id]


def record_payment(
    session: Session, invoice: Invoice, amount: Money | Decimal, paid_on: date, method: str | None,
    reference: str | None, user: User | None, *, today: date | None = None,
) -> Payment:
    """Record ``amount`` received for ``invoice`` on ``paid_on``; refused (nothing posted) if it is not
    positive, has more decimals than the currency, exceeds the amount due or is dated impossibly."""
    today = today or datetime.now(UTC).date()
    if invoice.kind != "invoice":
        raise Conflict(N_("%(number)s is a credit note: payments are recorded against invoices"), "invoice",
                       number=invoice.number)
    invoice = lock_row(session, Invoice, invoice.id)  # two payments at once never both fit the amount due
    minor = _minor(amount, invoice.currency)
    due = standing(session, invoice, today).amount_due
    refusal = billing.payment_refusal(minor, due, paid_on, invoice.issued_on, today)
    if refusal is not None:
        if refusal.field == "amount" and minor > 0:
            shown = Money.from_minor(max(due, 0), invoice.currency)
            raise ValidationError(N_("the payment is more than the amount due (%(due)s %(currency)s)"),
                                  "amount", due=str(shown), currency=invoice.currency)
        raise ValidationError(refusal.template, refusal.field, **refusal.params)
    payment = Payment(invoice_id=invoice.id, amount_minor=minor, currency=invoice.currency, paid_on=paid_on,
                      method=_text(method, MAX_METHOD, "method"), reference=_text(reference, MAX_REFERENCE,
                                                                                   "reference"),
                      created_by_id=user.id if user else None)
    session.add(payment)
    session.flush()
    return payment


def _minor(amount: Money | Decimal, currency: str) -> int:
    value = amount.amount if isinstance(amount, Money) else amount
    try:
        return Money.parse(str(value), currency).minor
    except ValueError as error:
        raise ValidationError(N_("amount is not a valid amount: %(reason)s"), "amount", reason=str(error)) from None


def _text(value: str | None, limit: int, field: str) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationError(N_("%(field_name)s is at most %(max)s characters"), field, field_name=field, max=limit)
    return value or None


def reverse_payment(session: Session, payment: Payment, reason: str, user: User | None, *,
                    today: date | None = None) -> Payment:
    """Undo ``payment`` with a reversing payment of the opposite amount, dated ``today``, with a reason."""
    today = today or datetime.now(UTC).date()
    if not (reason or "").strip():
        raise ValidationError(N_("a reversal needs a reason"), "reason")
    if payment.reverses_id is not None:
        raise Conflict(N_("a reversal cannot itself be reversed; record the payment again"), "payment")
    lock_row(session, Invoice, payment.invoice_id)
    if session.scalar(select(Payment.id).where(Payment.reverses_id == payment.id)) is not None:
        raise Conflict(N_("payment %(id)s has been reversed already"), "payment", id=payment.id)
    reversal = Payment(invoice_id=payment.invoice_id, amount_minor=-payment.amount_minor,
                       currency=payment.currency, paid_on=today, method=payment.method,
                       reference=payment.reference, reverses_id=payment.id, reason=reason.strip(),
                       created_by_id=user.id if user else None)
    session.add(reversal)
    session.flush()
    return reversal


def payments_of(session: Session, invoice: Invoice) -> list[Payment]:
    """The invoice's payments and reversals, in the order they were recorded."""
    return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id)))


def reversed_ids(session: Session, payments: Iterable[Payment]) -> set[int]:
    """Which of ``payments`` have been reversed."""
    ids = [payment.id for payment in payments]
    return set(session.scalars(select(Payment.reverses_id).where(Payment.reverses_id.in_(ids)))) if ids else set()


def find_payment(session: Session, payment_id: int, user: User) -> Payment:
    """The payment if ``user`` may see its invoice; NotFound otherwise."""
    found = session.scalar(select(Payment).join(Invoice, Invoice.id == Payment.invoice_id)
                           .where(Payment.id == payment_id, Invoice.id.in_(visible(Invoice, user)
                                                                           .with_only_columns(Invoice.id))))
    if found is None:
        raise NotFound(N_("no payment %(id)s"), "id", id=payment_id)
    return found
