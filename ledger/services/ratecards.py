"""Rate cards: versioned price lists per currency, and the seed card of SPEC.md."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import billing
from ..errors import N_, Conflict, NotFound, ValidationError
from ..models import RateCard, RateCardRole, VolumeDiscount
from ..money import Money, is_currency

ROLE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: SPEC.md's seed roles: code, title, hourly and daily price in major units (a day is 8 hours)
SEED_ROLES = (
    ("analyst", "Project Coordinator / Business Analyst", Decimal(150), Decimal(1200)),
    ("consultant", "Implementation Specialist / Consultant", Decimal(125), Decimal(1000)),
    ("developer", "Programmer Analyst / Developer", Decimal(125), Decimal(1000)),
)
#: volume-discount tiers on hours bought in one quote: (minimum hours, percent)
SEED_DISCOUNTS = ((40, Decimal(5)), (80, Decimal(10)), (160, Decimal(15)))
#: price of one incident in a bundle and one incident of overage, in major units
SEED_INCIDENT_PRICE = Decimal(200)
SEED_OVERAGE_PRICE = Decimal(250)
#: the seed card is in force from this day, so any date a user may enter finds a card
SEED_EFFECTIVE_FROM = date(2000, 1, 1)


def create_rate_card(
    session: Session, currency: str, effective_from: date, *, incident_price: Decimal = SEED_INCIDENT_PRICE,
    overage_price: Decimal = SEED_OVERAGE_PRICE, maintenance_fee: Decimal = Decimal(0), roles=SEED_ROLES,
    discounts=SEED_DISCOUNTS,
) -> RateCard:
    """A new version of ``currency``'s card, in force from ``effective_from``; old versions stay."""
    if not is_currency(currency):
        raise ValidationError(N_("%(currency)r is not an ISO 4217 currency code"), "currency", currency=currency)
    clash = session.scalar(
        select(RateCard.id).where(RateCard.currency == currency, RateCard.effective_from == effective_from)
    )
    if clash is not None:
        raise Conflict(N_("a %(currency)s rate card already takes effect on %(day)s"), "effective_from",
                       currency=currency, day=effective_from.isoformat())
    latest = session.scalar(select(func.max(RateCard.version)).where(RateCard.currency == currency))
    card = RateCard(
        currency=currency, version=(latest or 0) + 1, effective_from=effective_from,
        incident_price_minor=Money(incident_price, currency).minor,
        overage_price_minor=Money(overage_price, currency).minor,
        maintenance_fee_minor=Money(maintenance_fee, currency).minor,
        roles=[
            RateCardRole(code=code, title=title, hourly_minor=Money(hourly, currency).minor,
                         daily_minor=Money(daily, currency).minor)
            for code, title, hourly, daily in roles
        ],
        volume_discounts=[VolumeDiscount(min_hours=h, percent=p) for h, p in discounts],
    )
    session.add(card)
    session.flush()
    return card


def seed_card(session: Session, currency: str) -> RateCard:
    """The seed card of SPEC.md in ``currency``, in force since 2000-01-01, unless that currency has one."""
    existing = session.scalar(select(RateCard).where(RateCard.currency == currency).order_by(RateCard.id).limit(1))
    return existing or create_rate_card(session, currency, SEED_EFFECTIVE_FROM)


def has_rate_card(session: Session, currency: str) -> bool:
    """Whether any version of ``currency``'s card exists."""
    return session.scalar(select(RateCard.id).where(RateCard.currency == currency).limit(1)) is not None


def card_in_force(session: Session, currency: str, on: date) -> RateCard:
    """The version of ``currency``'s card in force on ``on``."""
    card = session.scalar(select(RateCard).where(RateCard.currency == currency, RateCard.effective_from <= on)
                          .order_by(RateCard.effective_from.desc()).limit(1))
    if card is None:
        raise NotFound(N_("no rate card for %(currency)s in force on %(day)s"), "currency", currency=currency,
                       day=on.isoformat())
    return card


def role_prices(card: RateCard) -> dict[str, billing.RolePrice]:
    """The card's roles and their prices in major units, for the quote rules."""
    amount = lambda minor: Money.from_minor(minor, card.currency).amount
    return {role.code: billing.RolePrice(amount(role.hourly_minor), amount(role.daily_minor)) for role in card.roles}
