"""Fixtures of the page tests: two clients' worth of data, users who sign in, browsers."""

from __future__ import annotations

import pytest

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
