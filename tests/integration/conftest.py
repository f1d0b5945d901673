"""Fixtures of the page tests: two clients' worth of data, users who sign in, browsers."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from ledger.models import Client
from ledger.services import bundles, support
from tests.helpers import BETA_NAME, BETA_SUBJECT, browser_opener, seed_client, user_maker


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
