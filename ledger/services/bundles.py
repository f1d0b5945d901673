"""Selling incident bundles: each purchase opens a lot that expires at the end of its term."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import N_, Conflict, NotFound, ValidationError
from ..models import Bundle, Client, Lot, TermClose, User
from ..money import Money
from .clients import current_term
from .ledger import lock_client, post
from .ratecards import card_in_force

#: the largest bundle sold in one purchase, in incidents
MAX_BUNDLE = 100_000


def buy_bundle(session: Session, client: Client, quantity: int, purchased_on: date,
               unit_price: Money | None = None, user: User | None = None) -> Bundle:
    """Sell ``quantity`` incidents: a lot expiring at the end of the term containing ``purchased_on``.

    The price of one incident comes from the rate card in force unless ``unit_price`` is given.
    """
    if not 0 < quantity <= MAX_BUNDLE:
        raise ValidationError(N_("quantity is a whole number from 1 to %(max)s"), "quantity", max=MAX_BUNDLE)
    if unit_price is None:
        try:
            card = card_in_force(session, client.currency, purchased_on)
        except NotFound as missing:
            raise ValidationError(N_("no rate card for %(currency)s in force on %(day)s; give unit_price"), "unit_price",
                                  **missing.params) from None
        unit_price = Money.from_minor(card.incident_price_minor, client.currency)
    if unit_price.currency != client.currency or unit_price.amount < 0:
        raise ValidationError(N_("unit_price is a non-negative amount in %(currency)s"), "unit_price",
                              currency=client.currency)
    client = lock_client(session, client)
    term = current_term(client, purchased_on)
    closed_to = session.scalar(select(func.max(TermClose.term_end)).where(TermClose.client_id == client.id))
    if closed_to is not None and term.end <= closed_to:
        raise Conflict(N_("the term ending %(day)s is closed; sell into a current term"),
                       "purchased_on", day=term.end.isoformat())
    lot = Lot(client_id=client.id, unit="incident", kind="purchase", quantity=quantity,
              remaining=0, starts_on=purchased_on, expires_on=term.end)
    bundle = Bundle(client_id=client.id, lot=lot, quantity=quantity, unit_price_minor=unit_price.minor,
                    currency=client.currency, purchased_on=purchased_on,
                    created_by_id=user.id if user else None)
    session.add_all([lot, bundle])
    post(session, client, unit="incident", quantity=quantity, kind="purchase",
         effective_on=purchased_on, lot=lot, memo=f"bundle of {quantity} incidents", user=user)
    session.flush()
    return bundle
