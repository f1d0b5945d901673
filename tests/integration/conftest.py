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
    browser_opener,
    inv,
    issue_march_in_pages,
    seed_client,
    user_maker,
)


@pytest.fixture
def alpha(app, make_client, rate_card) -> dict:
    make_client("ALPHA", name="Alpha Ltd")
    return seed_client(app, "ALPHA", "Alpha Ltd", "Alpha's outage")


@pytest.fixture
def beta(app, make_client, rate_card) -> dict:
    make_client("BETA", name=BETA_NAME)
    return seed_client(app, "BETA", BETA_NAME, BETA_SUBJECT)


@pytest.fixture
def make_user(app):
    """A user who signs in with PASSWORD; returns the email."""
    return user_maker(app)


@pytest.fixture
def browser_as(app, make_user):
    """A browser signed in as a new user of a role."""
    return browser_opener(app, make_user)


@pytest.fixture
def acme(app, make_client, rate_card) -> dict:
    """Client ACME (USD, en_US) with 10 incidents bought today and a case opened at midnight UTC."""
    make_client("ACME", name="Acme Corp")
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


@pytest.fixture
def march_invoice(finance_page, make_client, sell) -> str:
    """ACME's March invoice: line 1 a bundle of 10 ($2,000), line 2 a bundle of 5 ($1,000), tax 10 %."""
    make_client("ACME")
    sell("ACME", 10, "2026-03-10")
    sell("ACME", 5, "2026-03-12")
    issue_march_in_pages(finance_page)
    return inv(1)


@pytest.fixture
def as_role(api, make_token, make_client, rate_card):
    """ALPHA, BETA and GAMMA exist; ``as_role(role)`` is the API as that role, made on first use.

    ``client`` is a user of ALPHA, ``other_client`` one of BETA.
    """
    make_client("ALPHA", tax_rate=Decimal(10))
    make_client("BETA", tax_rate=Decimal(10))
    make_client("GAMMA")
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
