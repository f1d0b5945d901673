"""Who may open which page: every manager, portal, finance and admin route against every role.

Anonymous visitors are sent to the sign-in page, a role without the right gets 403, and a
client user never reaches another client's data (404 or 403, and never a word of it).
The table below must name every page route: adding a route without listing it fails here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from markupsafe import escape
from werkzeug.exceptions import MethodNotAllowed

from ledger.extensions import db
from ledger.services.users import create_token, create_user
from tests.helpers import BETA_NAME, BETA_SUBJECT, once, row_counts, signed_in

ROLES = ("anonymous", "client", "account_manager", "finance", "admin")
PAGE_AREAS = ("manager.", "portal.", "finance.", "admin.", "account.", "audit.")

_emails = itertools.count()


# --- two clients' worth of data ------------------------------------------------------------


@pytest.fixture
def spare(app) -> dict:
    """A user for the admin pages to act on (deactivate, reset, tokens), with one token."""
    with app.app_context():
        user = create_user(db.session, f"spare-{next(_emails)}@example.com", "account_manager")
        create_token(db.session, user)
        db.session.commit()
        token_id = db.session.scalar(sa.text("SELECT id FROM api_tokens WHERE user_id = :u"), {"u": user.id})
        return {"user": user.id, "token": token_id}


# --- the table ------------------------------------------------------------------------------

MANAGERS = frozenset({"account_manager", "admin"})
STAFF = frozenset({"account_manager", "finance", "admin"})
FINANCE = frozenset({"finance", "admin"})
ADMIN = frozenset({"admin"})
CLIENT = frozenset({"client"})
EVERYONE = STAFF | CLIENT


@dataclass(frozen=True)
class Page:
    """A page route: who may use it, and what they get (anyone else: 403; anonymous: sign-in)."""

    endpoint: str
    method: str
    #: with {code} {case} {activity} {quote} {draft} {invoice} {user} {token} to fill in
    path: str
    allowed: frozenset[str]
    #: what an allowed role gets; forms are posted empty (with the CSRF and one-time tokens), so 422,
    #: and an irreversible action shows its confirmation page (200)
    status: int
    form: dict = field(default_factory=dict)

    def url(self, ids: dict) -> str:
        return self.path.format(**ids)

    def names_client_data(self) -> bool:
        return any(f"{{{key}}}" in self.path for key in ("code", "case", "activity", "quote", "draft", "invoice"))


PAGES = [
    Page("manager.clients", "GET", "/clients", MANAGERS, 200),
    Page("manager.client", "GET", "/clients/{code}", STAFF, 200),
    Page("manager.new_client", "GET", "/new-client", MANAGERS, 200),
    Page("manager.new_client", "POST", "/new-client", MANAGERS, 422),
    Page("manager.edit_client", "GET", "/clients/{code}/edit", MANAGERS, 200),
    Page("manager.edit_client", "POST", "/clients/{code}/edit", MANAGERS, 422),
    Page("manager.balance_history", "GET", "/clients/{code}/history", STAFF, 200),
    Page("manager.balance_history_csv", "GET", "/clients/{code}/history.csv", STAFF, 200),
    Page("manager.edit_billing", "GET", "/clients/{code}/billing", STAFF, 200),
    Page("manager.edit_billing", "POST", "/clients/{code}/billing", STAFF, 422),
    Page("manager.open_case", "GET", "/clients/{code}/cases/new", MANAGERS, 200),
    Page("manager.open_case", "POST", "/clients/{code}/cases/new", MANAGERS, 422),
    Page("manager.case", "GET", "/cases/{case}", MANAGERS, 200),
    Page("manager.queue", "GET", "/cases", MANAGERS, 200),
    Page("manager.change_status", "POST", "/cases/{case}/status", MANAGERS, 422),
    Page("manager.log_helpdesk_answer", "POST", "/cases/{case}/helpdesk-answers", MANAGERS, 422),
    Page("manager.log_response", "POST", "/cases/{case}/responses", MANAGERS, 422),
    Page("manager.log_appointment", "POST", "/cases/{case}/appointments", MANAGERS, 422),
    Page("manager.waive", "GET", "/activities/{activity}/waive", MANAGERS, 200),
    Page("manager.waive", "POST", "/activities/{activity}/waive", MANAGERS, 422),
    Page("manager.sell_bundle", "GET", "/clients/{code}/bundles/new", MANAGERS, 200),
    Page("manager.sell_bundle", "POST", "/clients/{code}/bundles/new", MANAGERS, 422),
    Page("manager.log_work", "GET", "/clients/{code}/work/new", MANAGERS, 200),
    Page("manager.log_work", "POST", "/clients/{code}/work/new", MANAGERS, 422),
    Page("manager.new_quote", "GET", "/clients/{code}/quotes/new", MANAGERS, 200),
    Page("manager.new_quote", "POST", "/clients/{code}/quotes/new", MANAGERS, 422),
    Page("manager.quote", "GET", "/quotes/{quote}", STAFF, 200),
    # the client's own sent quote as a PDF, before anyone moves it below
    Page("manager.quote_pdf", "GET", "/quotes/{quote}/pdf", STAFF | CLIENT, 200),
    Page("manager.move_quote", "POST", "/quotes/{draft}/send", MANAGERS, 302),
    Page("manager.move_quote", "POST", "/quotes/{quote}/accept", STAFF, 200),
    Page("manager.move_quote", "POST", "/quotes/{quote}/decline", MANAGERS, 200),
    Page("portal.dashboard", "GET", "/portal/", CLIENT, 200),
    Page("portal.history", "GET", "/portal/history", CLIENT, 200),
    Page("portal.history_csv", "GET", "/portal/history.csv", CLIENT, 200),
    Page("portal.cases", "GET", "/portal/cases", CLIENT, 200),
    Page("portal.case", "GET", "/portal/cases/{case}", CLIENT, 200),
    Page("portal.open_case", "GET", "/portal/cases/new", CLIENT, 200),
    Page("portal.open_case", "POST", "/portal/cases/new", CLIENT, 422),
    Page("portal.service_levels", "GET", "/portal/service-levels", CLIENT, 200),
    Page("portal.quotes_page", "GET", "/portal/quotes", CLIENT, 200),
    Page("portal.invoices", "GET", "/portal/invoices", CLIENT, 200),
    Page("portal.invoice_pdf", "GET", "/portal/invoices/{invoice}.pdf", CLIENT, 200),
    Page("portal.invoice_xml", "GET", "/portal/invoices/{invoice}/factur-x.xml", CLIENT, 200),
    Page("portal.invoice_ubl", "GET", "/portal/invoices/{invoice}/ubl.xml", CLIENT, 200),
    Page("portal.decide_quote", "POST", "/portal/quotes/{quote}/accept", CLIENT, 200),
    Page("portal.decide_quote", "POST", "/portal/quotes/{quote}/decline", CLIENT, 200),
    Page("finance.invoices", "GET", "/finance/invoices?period=2026-01", FINANCE, 200),
    Page("finance.documents", "GET", "/finance/documents?q={invoice}", FINANCE, 200),
    Page("finance.issue", "POST", "/finance/invoices/issue", FINANCE, 200, {"period": "2026-01"}),
    Page("finance.invoice", "GET", "/finance/invoices/{invoice}", FINANCE, 200),
    Page("finance.invoice_pdf", "GET", "/finance/invoices/{invoice}/pdf", FINANCE, 200),
    Page("finance.credit_note", "POST", "/finance/invoices/{invoice}/credit-notes", FINANCE, 422),
    Page("finance.rate_card", "GET", "/finance/rate-card", FINANCE, 200),
    Page("finance.create_rate_card", "POST", "/finance/rate-card", FINANCE, 422),
    Page("finance.export", "GET", "/finance/export.csv?period=2026-01", FINANCE, 200),
    Page("admin.vendor", "GET", "/admin/vendor", ADMIN, 200),
    Page("admin.vendor", "POST", "/admin/vendor", ADMIN, 422),
    # the seeded profile has no logo: the view answers 404 to the admin, 403 to everyone else
    Page("admin.vendor_logo", "GET", "/admin/vendor/logo", ADMIN, 404),
    Page("admin.remove_vendor_logo", "POST", "/admin/vendor/logo/remove", ADMIN, 302),
    Page("admin.users", "GET", "/admin/users", ADMIN, 200),
    Page("admin.create_user", "POST", "/admin/users", ADMIN, 422),
    Page("admin.user", "GET", "/admin/users/{user}", ADMIN, 200),
    Page("admin.reset_password", "POST", "/admin/users/{user}/password", ADMIN, 422),
    Page("admin.all_tokens", "GET", "/admin/tokens", ADMIN, 200),
    Page("admin.tokens", "GET", "/admin/users/{user}/tokens", ADMIN, 200),
    Page("admin.create_token", "POST", "/admin/users/{user}/tokens", ADMIN, 201),
    Page("admin.revoke_token", "POST", "/admin/users/{user}/tokens/{token}/revoke", ADMIN, 200),
    Page("admin.set_active", "POST", "/admin/users/{user}/deactivate", ADMIN, 200),
    Page("admin.set_active", "POST", "/admin/users/{user}/reactivate", ADMIN, 302),
    Page("audit.trail", "GET", "/audit", FINANCE, 200),
    Page("account.settings", "GET", "/account", EVERYONE, 200),
    # an empty form keeps "as my organisation" for both: saved
    Page("account.save_preferences", "POST", "/account/preferences", EVERYONE, 302),
    Page("account.change_password", "POST", "/account/password", EVERYONE, 422),
]


def expected_status(page: Page, role: str) -> int:
    if role == "anonymous":
        return 302
    return page.status if role in page.allowed else 403


def request(browser, page: Page, url: str, token: str):
    if page.method == "GET":
        return browser.get(url)
    return browser.post(url, data={**page.form, "csrf_token": token, "once": once(browser)})


def mentions(body: bytes, *words: str) -> bool:
    """Whether a response body (a page or a PDF) contains any of ``words``, HTML-escaped or not."""
    return any(form.encode() in body for word in words for form in (word, escape(word)))


def page_routes(app) -> set[tuple[str, str]]:
    """(endpoint, method) of every page route of the four areas."""
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(PAGE_AREAS) for method in rule.methods - {"HEAD", "OPTIONS"}}


# --- the tests ------------------------------------------------------------------------------


def test_every_page_route_is_in_the_access_table(app):
    listed = {(page.endpoint, page.method) for page in PAGES}

    assert page_routes(app) - listed == set(), "new page routes: add them to PAGES with who may use them"
    assert listed - page_routes(app) == set(), "PAGES names routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says_on_every_page(app, alpha, beta, spare, role):
    browser, token = signed_in(app, role, client="ALPHA")
    ids = {**alpha, **spare}
    wrong = []

    for page in PAGES:
        response = request(browser, page, page.url(ids), token)
        body = response.get_data()
        if response.status_code != expected_status(page, role):
            wrong.append((page.method, page.url(ids), response.status_code, expected_status(page, role)))
        if role == "anonymous" and urlsplit(response.headers.get("Location", "")).path != "/sign-in":
            wrong.append((page.method, page.url(ids), "not sent to /sign-in", response.headers.get("Location")))
        if role == "client" and mentions(body, BETA_NAME, BETA_SUBJECT, beta["invoice"]):
            wrong.append((page.method, page.url(ids), "shows the other client's data", ""))

    assert wrong == []


def test_a_client_user_never_reaches_another_clients_data(app, alpha, beta, spare):
    browser, token = signed_in(app, "client", client="ALPHA")
    ids = {**beta, **spare}
    before = row_counts(app)
    leaks = []

    for page in (p for p in PAGES if p.names_client_data()):
        response = request(browser, page, page.url(ids), token)
        if response.status_code not in (403, 404):
            leaks.append((page.method, page.url(ids), response.status_code))
        if mentions(response.get_data(), BETA_NAME, BETA_SUBJECT):
            leaks.append((page.method, page.url(ids), "names the other client"))

    assert leaks == []
    assert row_counts(app) == before  # BETA's quote was neither accepted nor declined


@pytest.mark.parametrize("path", [
    "/portal/invoices/{invoice}.pdf",
    "/quotes/{quote}/pdf",
])
def test_another_clients_pdf_is_not_found_for_a_client_user(app, alpha, beta, path):
    browser, _ = signed_in(app, "client", client="ALPHA")

    response = browser.get(path.format(**beta))

    assert response.status_code == 404
    assert not response.get_data().startswith(b"%PDF")
    assert browser.get(path.format(**alpha)).get_data().startswith(b"%PDF")


def test_the_portal_lists_only_the_users_own_documents(app, alpha, beta):
    browser, _ = signed_in(app, "client", client="ALPHA")

    invoices = browser.get("/portal/invoices").get_data(as_text=True)
    quotes_page = browser.get("/portal/quotes").get_data(as_text=True)
    cases = browser.get("/portal/cases").get_data(as_text=True)

    assert alpha["invoice"] in invoices and beta["invoice"] not in invoices
    assert alpha["quote"] in quotes_page and beta["quote"] not in quotes_page
    assert alpha["draft"] not in quotes_page  # a draft is not the client's to see yet
    assert alpha["case"] in cases and beta["case"] not in cases and BETA_SUBJECT not in cases


def test_a_client_user_who_guesses_the_other_clients_draft_quote_gets_404(app, alpha, beta):
    browser, token = signed_in(app, "client", client="ALPHA")

    response = browser.post(f"/portal/quotes/{beta['draft']}/accept",
                            data={"csrf_token": token, "once": once(browser)})

    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT state FROM quotes WHERE number = :n"), {"n": beta["draft"]}) == "draft"


@pytest.mark.parametrize("path", [
    "/clients/NOPE",
    "/clients/NOPE/cases/new",
    "/clients/NOPE/billing",
    "/clients/NOPE/edit",
    "/clients/NOPE/history",
    "/clients/NOPE/history.csv",
    "/cases/C-999999",
    "/activities/999999/waive",
    "/quotes/Q-2026-99999",
    "/quotes/Q-2026-99999/pdf",
    "/finance/invoices/INV-2026-99999",
    "/finance/invoices/INV-2026-99999/pdf",
    "/admin/users/999999",
    "/admin/users/999999/tokens",
])
def test_staff_asking_for_something_that_does_not_exist_get_404(app, path):
    browser, _ = signed_in(app, "admin")

    response = browser.get(path)

    assert response.status_code == 404
    assert "404" in response.get_data(as_text=True)  # the error page, not a traceback


def takes(app, method: str, url: str) -> bool:
    """Whether some route (of any endpoint) serves ``method`` at ``url``."""
    try:
        app.url_map.bind("localhost").match(urlsplit(url).path, method)
    except MethodNotAllowed:
        return False
    return True


def test_a_page_answers_405_to_a_method_it_does_not_take(app, alpha, spare):
    browser, token = signed_in(app, "admin")
    ids = {**alpha, **spare}
    answers = {}

    for page in PAGES:
        other = "POST" if page.method == "GET" else "GET"
        if takes(app, other, page.url(ids)):
            continue
        response = request(browser, Page(page.endpoint, other, page.path, ADMIN, 405), page.url(ids), token)
        answers[(other, page.url(ids))] = response.status_code

    assert len(answers) > 20 and set(answers.values()) == {405}, answers
