"""Fixtures of the page tests: two clients' worth of data, users who sign in, browsers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from ledger.models import Client
from ledger.services import bundles, support
from tests.helpers import (
    BETA_NAME,
    BETA_SUBJECT,
    add_client,
    browser_opener,
    built_once,
    inv,
    issue_march_in_pages,
    post_created,
    seed_client,
    staff_api,
    user_maker,
)


@built_once(after=("rate_card",))
def alpha(app, after) -> dict:
    """Client ALPHA with a bundle, a case, a charged appointment, a sent and a draft quote, an invoice."""
    add_client(app, "ALPHA", name="Alpha Ltd")
    return seed_client(app, "ALPHA", "Alpha Ltd", "Alpha's outage")


@built_once(after=("rate_card",))
def beta(app, after) -> dict:
    """Client BETA, the same, under names that must never reach ALPHA's users."""
    add_client(app, "BETA", name=BETA_NAME)
    return seed_client(app, "BETA", BETA_NAME, BETA_SUBJECT)


@pytest.fixture
def make_user(app):
    """A user who signs in with PASSWORD; returns the email."""
    return user_maker(app)


@pytest.fixture
def browser_as(app, make_user):
    """A browser signed in as a new user of a role."""
    return browser_opener(app, make_user)


@built_once(after=("rate_card",))
def acme(app, after) -> dict:
    """Client ACME (USD, en_US) with 10 incidents bought today and a case opened at midnight UTC."""
    add_client(app, "ACME", name="Acme Corp")
    today = datetime.now(UTC).date()
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ACME"))
        bundles.buy_bundle(db.session, client, 10, today)
        case = support.open_case(db.session, client, "Mail server down", "critical",
                                 datetime.combine(today, time(0), UTC))
        db.session.commit()
        return {"code": "ACME", "case": case.number}


# --- finance: at the pages (a browser) and through the API -------------------------------


@pytest.fixture
def finance_page(browser_as):
    """Finance signed in to the pages."""
    return browser_as("finance")


@pytest.fixture
def sell(api, rate_card):
    """Sell a bundle at the rate card's price ($200 an incident on the seed card) through the API."""

    def sell_bundle(code: str, quantity: int, purchased_on: str) -> None:
        response = api.post(f"/clients/{code}/bundles", {"quantity": quantity, "purchased_on": purchased_on})
        assert response.status_code == 201, response.get_json()

    return sell_bundle


@built_once(after=("rate_card",))
def march_invoice(app, after) -> str:
    """ACME's March invoice, issued by finance in the pages: line 1 a bundle of 10 ($2,000), line 2 a
    bundle of 5 ($1,000) sold through the API at the rate card's price, tax 10 %."""
    add_client(app, "ACME")
    api = staff_api(app)
    for quantity, purchased_on in ((10, "2026-03-10"), (5, "2026-03-12")):
        post_created(api, "/clients/ACME/bundles", {"quantity": quantity, "purchased_on": purchased_on})
    issue_march_in_pages(browser_opener(app, user_maker(app))("finance"))
    return inv(1)


@built_once(after=("rate_card",))
def three_clients(app, after) -> None:
    """ALPHA and BETA (tax 10 %) and GAMMA, in USD."""
    for code in ("ALPHA", "BETA", "GAMMA"):
        add_client(app, code, tax_rate=Decimal(10))


@pytest.fixture
def as_role(api, make_token, three_clients):
    """ALPHA, BETA and GAMMA exist; ``as_role(role)`` is the API as that role, made on first use.

    ``client`` is a user of ALPHA, ``other_client`` one of BETA.
    """
    users = {"client": ("client", "ALPHA"), "other_client": ("client", "BETA")}
    made = {"account_manager": api}

    def as_(role: str):
        if role not in made:
            made[role] = api.as_(make_token(*users.get(role, (role, None))))
        return made[role]

    return as_


@pytest.fixture
def finance_api(as_role):
    """Finance through the JSON API."""
    return as_role("finance")
