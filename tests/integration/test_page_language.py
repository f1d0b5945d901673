"""The pages in the reader's language: the client's locale for its users, ``Accept-Language`` for staff
without a setting, English for anything else; ``<html lang>`` says which, in BCP 47."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ledger.demo import DEMO_PASSWORD, load_demo
from ledger.extensions import db
from ledger.models import User, utcnow
from ledger.web.language import supported
from tests.helpers import PASSWORD, csrf_token, once

#: loads the demo (three clients, months of history)
pytestmark = pytest.mark.slow

PORTAL = ["/portal/", "/portal/history", "/portal/cases", "/portal/service-levels", "/portal/quotes",
          "/portal/invoices", "/portal/statement"]


@pytest.fixture
def demo(app):
    with app.app_context():
        load_demo(db.session, utcnow().date())
        db.session.commit()
        return {user.client.code: user.email for user in db.session.scalars(select(User).where(User.role == "client"))}


def signed_in(app, email: str, password: str = DEMO_PASSWORD, **headers):
    browser = app.test_client()
    browser.environ_base.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
    browser.post("/sign-in", data={"email": email, "password": password, "csrf_token": csrf_token(browser)})
    return browser


def lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def test_brau_s_client_user_reads_every_portal_page_in_german(app, demo):
    browser = signed_in(app, demo["BRAU"], Accept_Language="en-US,en;q=0.9")
    pages = {path: browser.get(path).get_data(as_text=True) for path in PORTAL}
    assert {path: lang(page) for path, page in pages.items()} == dict.fromkeys(PORTAL, "de")
    assert "Verbleibende Vorfälle" in pages["/portal/"] and "Abmelden" in pages["/portal/"]
    assert "Incidents left" not in pages["/portal/"] and "Sign out" not in pages["/portal/"]
    assert ">Guthabenverlauf</h1>" in pages["/portal/history"] and ">Kontoauszug</h1>" in pages["/portal/statement"]


def test_nord_s_client_user_reads_the_portal_in_canadian_french(app, demo):
    browser = signed_in(app, demo["NORD"])
    overview, quotes = browser.get("/portal/").get_data(as_text=True), browser.get("/portal/quotes").get_data(as_text=True)
    assert lang(overview) == "fr-CA"
    assert "Incidents restants" in overview and "Se déconnecter" in overview  # from fr, under fr_CA
    assert ">Soumissions</h1>" in quotes  # Canadian usage where it differs


def test_a_staff_user_without_a_setting_gets_the_language_their_browser_asks_for(app, make_user):
    browser = signed_in(app, make_user("account_manager"), password=PASSWORD,
                        Accept_Language="de-DE,de;q=0.9,en;q=0.5")
    page = browser.get("/clients").get_data(as_text=True)
    assert lang(page) == "de" and ">Kunden</h1>" in page


def test_an_unknown_accept_language_falls_back_to_english(app):
    page = app.test_client().get("/sign-in", headers={"Accept-Language": "xx-YY, tlh;q=0.9"}).get_data(as_text=True)
    assert lang(page) == "en" and "Sign in" in page


def test_a_flash_message_after_signing_out_is_in_the_client_s_language(app, demo):
    browser = signed_in(app, demo["BRAU"])
    browser.post("/sign-out", data={"csrf_token": csrf_token(browser, "/portal/"), "once": once(browser)})
    assert "Sie sind abgemeldet." in browser.get("/sign-in").get_data(as_text=True)


@pytest.mark.parametrize(("value", "expected"), [
    ("de_DE", "de"), ("fr-CA", "fr_CA"), ("fr_BE", "fr"), ("en_US", "en"), ("es", None), ("", None),
    (None, None), ("<script>", None), ("x" * 10_000, None)])
def test_a_locale_is_narrowed_to_a_supported_language(value, expected):
    assert supported(value) == expected
