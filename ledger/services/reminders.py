"""Reminders queued in the outbox by ``ledger reminders``: incidents low, incidents expiring, invoices overdue.

Each reminder names its occasion (the client, the bundle or term or invoice, the threshold), and
the outbox keeps one message per occasion, so running the command again, or every day, queues
each reminder once.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing
from ..models import Bundle, Client, Invoice, OutboxMessage
from .balances import balance
from .clients import current_term
from .mail import Texts, letter, queue_message
from .payments import standings

#: a client is reminded when its incidents fall to this share of its last bundle, and again at zero
LOW_SHARE = 0.20
#: days before the term ends that an expiry reminder goes out
EXPIRY_NOTICES = (60, 30)
#: days past the due date that an overdue reminder goes out
OVERDUE_NOTICES = (7, 14, 30)


def low_threshold(bundle_quantity: int, share: float = LOW_SHARE) -> int:
    """Incidents left at or below which a client hears it is running low: 20 % of its last bundle, rounded up."""
    return math.ceil(bundle_quantity * share)


def notice_due(days_left: int, notices: tuple[int, ...]) -> int | None:
    """The nearest notice (days before) that ``days_left`` has reached, or None: 45 days left → 60."""
    reached = [notice for notice in notices if 0 < days_left <= notice]
    return min(reached) if reached else None


def overdue_notice(days_overdue: int, notices: tuple[int, ...] = OVERDUE_NOTICES) -> int | None:
    """The latest overdue notice ``days_overdue`` has reached, or None: 20 days overdue → 14."""
    reached = [notice for notice in notices if days_overdue >= notice]
    return max(reached) if reached else None


def queue_reminders(session: Session, today: date) -> list[OutboxMessage]:
    """Queue every reminder due on ``today`` that was not queued before; returns the new messages."""
    queued = []
    clients = session.scalars(select(Client).order_by(Client.code)).all()
    for client in clients:
        if not client.billing_emails:
            continue
        queued += [m for m in (_incidents_low(session, client, today), _incidents_expiring(session, client, today))
                   if m is not None]
        queued += _overdue(session, client, today)
    return queued


def _queue(session, client: Client, kind: str, occasion: str, subject: str, body: str) -> OutboxMessage | None:
    return queue_message(session, kind=kind, occasion=occasion, recipients=client.billing_emails,
                         subject=subject, body=body, language=client.locale, client=client)


def _incidents_low(session: Session, client: Client, today: date) -> OutboxMessage | None:
    bundle = session.scalar(select(Bundle).where(Bundle.client_id == client.id, Bundle.purchased_on <= today)
                            .order_by(Bundle.purchased_on.desc(), Bundle.id.desc()).limit(1))
    if bundle is None:
        return None
    available = balance(session, client, today).available
    text = Texts(client.locale)
    _ = text.gettext
    values = {"left": available, "bundle": bundle.quantity}
    if available <= 0:
        return _queue(session, client, "incidents_low", f"incidents_low:{client.id}:{bundle.id}:zero",
                      _("You have no support incidents left"),
                      letter(text, client, _("All incidents of your bundle of %(bundle)s are used. Further "
                                                 "incidents are billed as overage until you buy a new bundle.")
                              % values))
    if available > low_threshold(bundle.quantity):
        return None
    return _queue(session, client, "incidents_low", f"incidents_low:{client.id}:{bundle.id}:low",
                  _("Your support incidents are running low"),
                  letter(text, client, _("You have %(left)s of your bundle of %(bundle)s incidents left.")
                          % values))


def _incidents_expiring(session: Session, client: Client, today: date) -> OutboxMessage | None:
    term = current_term(client, today)
    notice = notice_due((term.end - today).days, EXPIRY_NOTICES)
    if notice is None:
        return None
    unused = sum(lot.remaining for lot in balance(session, client, today).lots
                 if lot.expires_on is not None and lot.expires_on <= term.end)
    if unused <= 0:
        return None
    rolls, expires = billing.rollover_forecast(unused)
    text = Texts(client.locale)
    _ = text.gettext
    values = {"end": text.day(term.end), "unused": unused, "rolls": rolls, "expires": expires}
    return _queue(session, client, "incidents_expiring",
                  f"incidents_expiring:{client.id}:{term.end.isoformat()}:{notice}",
                  _("Your support incidents expire on %(end)s") % values,
                  letter(text, client, _("You have %(unused)s unused incidents. When your term ends on "
                                             "%(end)s, %(rolls)s will roll over into the next term and "
                                             "%(expires)s will expire.") % values))


def _overdue(session: Session, client: Client, today: date) -> list[OutboxMessage]:
    invoices = session.scalars(select(Invoice).where(
        Invoice.client_id == client.id, Invoice.kind == "invoice",
        Invoice.due_on <= today - timedelta(days=min(OVERDUE_NOTICES))).order_by(Invoice.id)).all()
    found = standings(session, invoices, today)
    queued = []
    text = Texts(client.locale)
    _ = text.gettext
    for invoice in invoices:
        notice = overdue_notice((today - invoice.due_on).days)
        standing = found[invoice.id]
        # the real amount due, after payments and credit notes; nothing to chase once paid or credited
        if notice is None or standing.status in ("paid", "credited") or standing.amount_due <= 0:
            continue
        values = {"number": invoice.number, "amount": text.money(standing.amount_due, invoice.currency),
                  "due": text.day(invoice.due_on), "days": (today - invoice.due_on).days}
        message = _queue(session, client, "invoice_overdue", f"invoice_overdue:{invoice.id}:{notice}",
                         _("Invoice %(number)s is overdue") % values,
                         letter(text, client, _("Invoice %(number)s was due on %(due)s; %(amount)s is still "
                                                    "open, %(days)s days later. If you have paid it already, "
                                                    "please ignore this message.") % values))
        if message is not None:
            queued.append(message)
    return queued
