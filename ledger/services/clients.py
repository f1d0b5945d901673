"""Clients: creation, lookup within what a user may see, and their annual terms."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing
from ..errors import N_, Conflict, ValidationError
from ..models import OVERAGE_POLICIES, Client, User
from ..money import Money, is_currency, is_locale
from . import access
from .ratecards import has_rate_card
from .users import check_time_zone

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def create_client(
    session: Session, *, code: str, name: str, currency: str, locale: str, tax_rate: Decimal,
    term_start: date, maintenance_fee: Money | None = None, overage_policy: str = "bill", address: str = "",
    time_zone: str | None = None,
) -> Client:
    """Create a client; refuses a taken code, an unknown currency, locale or time zone, a bad tax rate.

    Without ``time_zone`` the client works in its support plan's zone (see ``default_time_zone``).
    """
    if time_zone is not None:
        check_time_zone(time_zone)
    if not CODE_PATTERN.match(code):
        raise ValidationError(N_("use 1–32 letters, digits, '-' or '_', starting with a letter or digit"), "code")
    if not is_currency(currency):
        raise ValidationError(N_("%(currency)r is not an ISO 4217 currency code"), "currency", currency=currency)
    if not has_rate_card(session, currency):
        raise ValidationError(N_("there is no %(currency)s rate card; create one before a client in %(currency)s"),
                              "currency", currency=currency)
    if not is_locale(locale):
        raise ValidationError(N_("%(locale)r is not a known locale (for example en_US, de_DE)"), "locale", locale=locale)
    if not Decimal(0) <= tax_rate <= Decimal(100) or tax_rate != tax_rate.quantize(Decimal("0.001")):
        raise ValidationError(N_("tax_rate is a percentage from 0 to 100 with at most 3 decimals"), "tax_rate")
    if overage_policy not in OVERAGE_POLICIES:
        raise ValidationError(N_("overage_policy is 'bill' or 'block'"), "overage_policy")
    fee = maintenance_fee or Money(Decimal(0), currency)
    if fee.currency != currency or fee.amount < 0:
        raise ValidationError(N_("maintenance_fee is a non-negative amount in the client's currency"), "maintenance_fee")
    if session.scalar(select(Client.id).where(Client.code == code)) is not None:
        raise Conflict(N_("a client with code %(code)r exists already"), "code", code=code)
    client = Client(
        code=code, name=name, currency=currency, locale=locale, tax_rate=tax_rate,
        term_start=term_start, maintenance_fee_minor=fee.minor, overage_policy=overage_policy,
        address=address, time_zone=time_zone or "UTC",
    )
    session.add(client)
    session.flush()
    if time_zone is None:
        client.time_zone = default_time_zone(session, client)
        session.flush()
    return client


def default_time_zone(session: Session, client: Client) -> str:
    """The zone of the client's support plan (its latest version), else UTC."""
    from .sla import plan_of  # sla reads clients: imported here, not at the top

    try:
        plan = plan_of(session, client)
    except ValidationError:  # no plan at all: a database `ledger init` has not seeded
        return "UTC"
    return plan.versions[-1].time_zone if plan is not None and plan.versions else "UTC"


def visible_clients(user: User):
    """A select of the clients ``user`` may see, by code: a client user only its own."""
    return access.visible(Client, user).order_by(Client.code)


def update_client(session: Session, client: Client, **fields) -> Client:
    """Change a client's name, address, locale, tax rate, overage policy or maintenance fee.

    A ``tax_rate`` replaces any named tax components: the rate is then one unnamed tax.
    """
    if "time_zone" in fields:
        check_time_zone(fields["time_zone"])
    if "locale" in fields and not is_locale(fields["locale"]):
        raise ValidationError(N_("%(locale)r is not a known locale (for example en_US, de_DE)"), "locale",
                              locale=fields["locale"])
    rate = fields.get("tax_rate")
    if rate is not None and (not Decimal(0) <= rate <= Decimal(100) or rate != rate.quantize(Decimal("0.001"))):
        raise ValidationError(N_("tax_rate is a percentage from 0 to 100 with at most 3 decimals"), "tax_rate")
    if fields.get("overage_policy", "bill") not in OVERAGE_POLICIES:
        raise ValidationError(N_("overage_policy is 'bill' or 'block'"), "overage_policy")
    fee = fields.pop("maintenance_fee", None)
    if fee is not None:
        if fee.currency != client.currency or fee.amount < 0:
            raise ValidationError(N_("maintenance_fee is a non-negative amount in the client's currency"),
                                  "maintenance_fee")
        client.maintenance_fee_minor = fee.minor
    if rate is not None and client.taxes:
        client.taxes.clear()
    for name, value in fields.items():
        setattr(client, name, value)
    session.flush()
    return client


def find_client(session: Session, code: str, user: User) -> Client:
    """The client with ``code`` if ``user`` may see it; NotFound otherwise (no hint either way)."""
    return access.find(session, Client, user, code)


def current_term(client: Client, on: date) -> billing.Term:
    """The client's annual term that contains ``on``."""
    return billing.term_containing(client.term_start, on)


def maintenance_fee(client: Client) -> Money:
    """The client's annual maintenance fee."""
    return Money.from_minor(client.maintenance_fee_minor, client.currency)
