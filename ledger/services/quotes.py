"""Quotes: priced from a locked rate-card version; accepting one credits prepaid hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from .. import billing
from ..errors import N_, Conflict, ValidationError
from ..models import BillableItem, Client, Lot, Quote, QuoteLine, User
from ..money import Money, exponent
from . import access, mail
from .ledger import lock_client, post
from .numbers import next_number
from .ratecards import card_in_force, role_prices

#: the most lines one quote may hold
MAX_LINES = 50
#: the largest quantity on one line, in hours or days
MAX_QUANTITY = Decimal(10_000)
UNIT_WORDS = {"hour": "hours", "day": "days"}


def create_quote(
    session: Session, client: Client, lines: list[billing.QuoteLineRequest], valid_until: date,
    today: date, user: User | None = None,
) -> Quote:
    """A draft quote priced from the card in force today; its prices never change afterwards."""
    if valid_until < today:
        raise ValidationError(N_("valid_until is in the past"), "valid_until")
    if not 0 < len(lines) <= MAX_LINES:
        raise ValidationError(N_("a quote has 1 to %(max)s lines"), "lines", max=MAX_LINES)
    for index, line in enumerate(lines):
        if line.quantity > MAX_QUANTITY:
            raise ValidationError(N_("quantity is at most %(max)s"), f"lines[{index}].quantity", max=MAX_QUANTITY)
    card = card_in_force(session, client.currency, today)
    tiers = [(tier.min_hours, tier.percent) for tier in card.volume_discounts]
    priced = billing.price_quote(lines, role_prices(card), tiers, exponent(client.currency))
    minor = lambda amount: Money(amount, client.currency).minor  # noqa: E731
    number = next_number(session, f"quote-{today.year}")
    quote = Quote(
        number=f"Q-{today.year}-{number:05d}", client_id=client.id, rate_card_id=card.id,
        valid_until=valid_until, currency=client.currency, minutes_total=priced.minutes_total,
        discount_percent=priced.discount_percent, subtotal_minor=minor(priced.subtotal),
        discount_minor=minor(priced.discount), total_minor=minor(priced.total),
        created_by_id=user.id if user else None,
        lines=[
            QuoteLine(role=p.role, unit=p.unit, quantity=p.quantity,
                      unit_price_minor=minor(p.unit_price), amount_minor=minor(p.amount),
                      minutes=p.minutes)
            for p in priced.lines
        ],
    )
    session.add(quote)
    session.flush()
    return quote


def visible_quotes(user: User):
    """A select of the quotes ``user`` may see: a client user only its own, and no drafts."""
    return access.visible(Quote, user)


def find_quote(session: Session, number: str, user: User) -> Quote:
    """The quote if ``user`` may see it; NotFound otherwise."""
    return access.find(session, Quote, user, number)


def state_on(quote: Quote, today: date) -> str:
    """The quote's state on ``today`` (an open quote past its validity date has expired)."""
    return billing.quote_state_on(quote.state, quote.valid_until, today)


def _move(session: Session, quote: Quote, action: str, today: date, user: User | None = None) -> Quote:
    """Make ``action``'s move under the client's lock; accepting or declining records who decided."""
    lock_client(session, quote.client)
    session.refresh(quote)
    state = state_on(quote, today)
    if state == "expired" and action in ("send", "accept"):
        raise Conflict(N_("quote %(number)s expired on %(day)s"), "valid_until", number=quote.number,
                       day=quote.valid_until.isoformat())
    quote.state = billing.quote_transition(state, action)
    if action in ("accept", "decline"):
        quote.decided_at, quote.decided_by_id = datetime.now(UTC), user.id if user else None
    return quote


def send_quote(session: Session, quote: Quote, today: date, user: User | None = None) -> Quote:
    """Send a draft to the client: from now on it can be accepted or declined; its e-mail is queued with it."""
    _move(session, quote, "send", today)
    quote.sent_at = datetime.now(UTC)
    session.flush()
    mail.queue_quote_mail(session, quote)  # the e-mail is queued with the sending, or not at all
    return quote


def decline_quote(session: Session, quote: Quote, today: date, user: User | None = None) -> Quote:
    """The client says no."""
    _move(session, quote, "decline", today, user)
    session.flush()
    return quote


def accept_quote(session: Session, quote: Quote, today: date, user: User | None = None) -> Quote:
    """Accept: prepaid minutes per role become lots, and the amount goes on the next invoice."""
    _move(session, quote, "accept", today, user)
    client = quote.client
    minutes_by_role: dict[str, int] = {}
    for line in quote.lines:
        minutes_by_role[line.role] = minutes_by_role.get(line.role, 0) + line.minutes
    for role, minutes in minutes_by_role.items():
        lot = Lot(client_id=client.id, unit="minute", role=role, kind="prepaid", quantity=minutes,
                  remaining=0, starts_on=today, expires_on=None)
        session.add(lot)
        post(session, client, unit="minute", role=role, quantity=minutes, kind="purchase",
             effective_on=today, lot=lot, user=user, memo=f"prepaid {role} hours from quote {quote.number}")
    session.add_all(_billable_items(quote, today))
    session.flush()
    return quote


def _billable_items(quote: Quote, today: date) -> list[BillableItem]:
    titles = {role.code: role.title for role in quote.rate_card.roles}
    items = [
        BillableItem(
            client_id=quote.client_id, billable_on=today, currency=quote.currency, quote_id=quote.id,
            description=f"{titles.get(line.role, line.role)}: {format(line.quantity.normalize(), 'f')} "
                        f"{UNIT_WORDS[line.unit]} (quote {quote.number})",
            quantity=line.quantity, unit_price_minor=line.unit_price_minor, amount_minor=line.amount_minor,
        )
        for line in quote.lines
    ]
    if quote.discount_minor:
        percent = format(quote.discount_percent.normalize(), "f")
        items.append(BillableItem(
            client_id=quote.client_id, billable_on=today, currency=quote.currency, quote_id=quote.id,
            description=f"Volume discount {percent} % (quote {quote.number})", quantity=Decimal(1),
            unit_price_minor=-quote.discount_minor, amount_minor=-quote.discount_minor,
        ))
    return items

