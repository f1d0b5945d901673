"""Form errors are shown in the reader's language: the forms' own checks and the domain's refusals.

A German client's users read their portal in German, so a refused case form must say why in
German; a German-speaking account manager reads a refusal from the services (an unknown currency, a
client code taken) beside its field in German, while the API keeps answering in English.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ledger import billing
from ledger.errors import describe
from ledger.extensions import db
from ledger.models import Case, Client, User
from ledger.web.common import error_text
from tests.helpers import Browser, make_api_token, row_counts

NEW_CLIENT = {
    "code": "NEWCO", "name": "Neue GmbH", "currency": "EUR", "locale": "de_DE", "tax_rate": "19",
    "term_start": "2026-02-01", "maintenance_fee": "0", "overage_policy": "bill", "payment_terms_days": "14",
}


def error_beside(response, field: str) -> str:
    """The error message shown beside ``field`` (empty when there is none), its entities undone."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', response.get_data(as_text=True))
    return found.group(1).replace("&#39;", "'").replace("&#34;", '"') if found else ""


def speaks(app, email: str, language: str) -> None:
    with app.app_context():
        db.session.scalar(sa.select(User).where(User.email == email)).language = language
        db.session.commit()


def cases_of(app, code: str) -> int:
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == code))
        return len(db.session.scalars(sa.select(Case).where(Case.client_id == client.id)).all())


@pytest.fixture
def brau_user(app, make_client, rate_card, make_user) -> Browser:
    """A user of BRAU, a German client (locale de_DE), signed in to its portal."""
    make_client("BRAU", currency="EUR", locale="de_DE")
    browser = Browser(app)
    assert browser.sign_in(make_user("client", "BRAU")).status_code == 302
    browser.get("/portal/cases/new")
    return browser


@pytest.fixture
def german_manager(app, make_user) -> Browser:
    """An account manager whose own language setting is German."""
    browser, email = Browser(app), make_user("account_manager")
    speaks(app, email, "de")
    assert browser.sign_in(email).status_code == 302
    browser.get("/new-client")
    return browser


@pytest.mark.parametrize(("subject", "german"), [
    ("", "Dieses Feld wird benötigt."),
    ("x" * 10_000, "Feld kann nicht länger als 200 Zeichen sein."),
], ids=["empty subject", "10,000-character subject"])
def test_a_german_client_user_reads_why_a_case_form_is_refused_in_german(app, brau_user, subject, german):
    response = brau_user.post("/portal/cases/new", {"subject": subject, "severity": "major",
                                                    "description": "Der Drucker brennt."})

    assert response.status_code == 422
    assert error_beside(response, "subject") == german
    assert cases_of(app, "BRAU") == 0


@pytest.mark.parametrize(("changes", "field", "german"), [
    ({"currency": "XYZ"}, "currency", "'XYZ' ist kein ISO-4217-Währungscode"),
    ({"locale": "xx_QQ"}, "locale", "'xx_QQ' ist kein bekanntes Gebietsschema (zum Beispiel en_US, de_DE)"),
    ({"tax_rate": "19.0001"}, "tax_rate",
     "Der Steuersatz ist ein Prozentsatz von 0 bis 100 mit höchstens 3 Nachkommastellen"),
], ids=["unknown currency", "unknown locale", "too many decimals"])
def test_a_german_account_manager_reads_the_services_refusal_beside_its_field_in_german(
        app, rate_card, german_manager, changes, field, german):
    before = row_counts(app)

    response = german_manager.post("/new-client", {**NEW_CLIENT, **changes})

    assert response.status_code == 422
    assert error_beside(response, field) == german
    assert row_counts(app) == before


def test_a_client_code_taken_is_refused_in_german_on_the_page_and_in_english_by_the_api(
        app, rate_card, make_client, german_manager):
    make_client("NEWCO")

    page = german_manager.post("/new-client", NEW_CLIENT)
    api = app.test_client().post("/api/v1/clients", json={"code": "NEWCO", "name": "Neue GmbH", "currency": "EUR",
                                                                     "locale": "de_DE", "tax_rate": "19",
                                                                     "term_start": "2026-02-01"},
                                 headers={"Authorization": f"Bearer {make_api_token(app, 'account_manager')}"})

    assert error_beside(page, "code") == "Ein Kunde mit dem Code 'NEWCO' existiert bereits"
    assert api.status_code == 409
    assert api.get_json()["error"]["message"] == "a client with code 'NEWCO' exists already"


@pytest.mark.parametrize(("language", "shown"), [
    ("en", "an accepted quote cannot be declined"),
    ("de", "Ein Angebot im Zustand „angenommen“ kann nicht abgelehnt werden"),
    ("fr-CA", "Une soumission à l'état « acceptée » ne peut pas être refusée"),
])
def test_a_refused_quote_move_names_the_state_and_the_move_in_the_pages_language(app, language, shown):
    with pytest.raises(billing.InvalidTransition) as refused:
        billing.quote_transition("accepted", "decline")

    with app.test_request_context("/", headers={"Accept-Language": language}):
        assert error_text(describe(refused.value)) == shown
    assert describe(refused.value).message == "an accepted quote cannot be declined"  # what the API says
