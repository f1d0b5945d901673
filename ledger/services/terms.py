"""Closing annual terms: up to fifteen unused incidents roll over, the rest expire. Idempotent."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import billing
from ..db import acquire_write_lock
from ..models import Client, Lot, TermClose, User
from .clients import current_term
from .ledger import as_balance, lock_client, post


def close_terms(session: Session, as_of: date, today: date, user: User | None = None) -> list[TermClose]:
    """Close every client's terms that ended on or before ``as_of``; running it twice changes nothing.

    ``as_of`` may not be after ``today``: a term closed ahead of time cannot be reopened.
    """
    billing.check_not_future(as_of, today, "as_of", "terms are closed once they have ended")
    acquire_write_lock(session)
    clients = session.scalars(select(Client).order_by(Client.code)).all()
    closed: list[TermClose] = []
    for client in clients:
        closed.extend(close_client_terms(session, client, as_of, user))
    return closed


def close_client_terms(session: Session, client: Client, as_of: date,
                       user: User | None = None) -> list[TermClose]:
    """Close ``client``'s ended terms, oldest first, so a rollover can itself roll again.

    The step :func:`close_terms` takes per client; its caller has refused an ``as_of`` after today.
    """
    client = lock_client(session, client)
    closed = []
    while (term_end := _oldest_open_term_end(session, client, as_of)) is not None:
        closed.append(_close_term(session, client, term_end, user))
    return closed


def _oldest_open_term_end(session: Session, client: Client, as_of: date) -> date | None:
    return session.scalar(select(func.min(Lot.expires_on)).where(
        Lot.client_id == client.id, Lot.unit == "incident", Lot.closed.is_(False), Lot.expires_on <= as_of))


def _close_term(session: Session, client: Client, term_end: date, user: User | None) -> TermClose:
    lots = session.scalars(
        select(Lot).where(
            Lot.client_id == client.id, Lot.unit == "incident", Lot.closed.is_(False),
            Lot.expires_on == term_end,
        )
    ).all()
    by_id = {lot.id: lot for lot in lots}
    plan = billing.rollover([as_balance(lot) for lot in lots])
    next_start = term_end + timedelta(days=1)
    next_term = current_term(client, next_start)
    if plan.rolled_over:
        carried = Lot(client_id=client.id, unit="incident", kind="rollover", quantity=plan.rolled_over,
                      remaining=0, starts_on=next_term.start, expires_on=next_term.end,
                      rolled_from=term_end)
        session.add(carried)
        post(session, client, unit="incident", quantity=plan.rolled_over, kind="rollover_in",
             effective_on=next_start, lot=carried, user=user,
             memo=f"rolled over from the term ending {term_end.isoformat()}")
    for closing in plan.closings:
        lot = by_id[closing.lot_id]
        if closing.rolled_over:
            post(session, client, unit="incident", quantity=-closing.rolled_over, kind="rollover_out",
                 effective_on=next_start, lot=lot, user=user, memo="rolled over into the next term")
        if closing.expired:
            post(session, client, unit="incident", quantity=-closing.expired, kind="expiry",
                 effective_on=next_start, lot=lot, user=user,
                 memo=f"expired: more than {billing.POLICY.rollover_cap} unused")
    for lot in lots:
        lot.closed = True
    record = TermClose(client_id=client.id, term_start=current_term(client, term_end).start,
                       term_end=term_end, rolled_over=plan.rolled_over, expired=plan.expired)
    session.add(record)
    session.flush()
    return record
