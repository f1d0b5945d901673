"""The pages' defences: CSRF tokens, cookie flags, a limit on password guessing, security headers,
scrypt password hashes, deactivated users, and HTML escaping of what users type."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from ledger.models import Client, LoginFailure, User
from ledger.services import bundles, support
from ledger.services.users import create_user
from tests.helpers import CSRF, PASSWORD, add_user, once, row_counts, sign_in, signed_in

OPENED = datetime(2026, 1, 10, 9, tzinfo=UTC)
HTTPS = "https://localhost"


@pytest.fixture
def alpha(app, make_client, rate_card) -> dict:
    """Client ALPHA with a case: enough for every form below."""
    make_client("ALPHA", name="Alpha Ltd")
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ALPHA"))
        case = support.open_case(db.session, client, "Printer on fire", "major", OPENED)
        db.session.commit()
        return {"code": "ALPHA", "case": case.number}


def set_cookie(response, name: str = "session") -> str:
    """The Set-Cookie header for cookie ``name``."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert headers, f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}"
    return headers[-1]


def flags(header: str) -> set[str]:
    """The attributes of a Set-Cookie header, lower case: {'httponly', 'samesite=lax', 'path=/', ...}."""
    return {part.strip().lower() for part in header.split(";")[1:]}


def is_signed_in(browser) -> bool:
    """Whether the start page sends this browser somewhere other than the sign-in page."""
    return urlsplit(browser.get("/").headers["Location"]).path != "/sign-in"


# --- CSRF -------------------------------------------------------------------------------

#: forms that would post something: (role, path, body); the same body with its token succeeds
FORMS = [
    pytest.param("account_manager", "/clients/ALPHA/cases/new",
                 {"subject": "Disk full", "severity": "minor", "opened_at": "2026-01-11T10:00",
                  "time_zone": "UTC"}, id="open a case"),
    pytest.param("account_manager", "/cases/{case}/appointments",
                 {"started_at": "2026-01-11T14:00", "ended_at": "2026-01-11T15:40", "time_zone": "UTC",
                  "technician": "Tess Tech"}, id="log an appointment"),
    pytest.param("account_manager", "/cases/{case}/responses",
                 {"responded_at": "2026-01-11T14:00", "time_zone": "UTC", "technician": "Tess Tech"},
                 id="log a response"),
    pytest.param("account_manager", "/clients/ALPHA/bundles/new",
                 {"quantity": "10", "purchased_on": "2026-01-11", "confirmed": "yes"}, id="sell a bundle"),
    pytest.param("admin", "/admin/users",
                 {"email": "new.person@example.com", "role": "finance", "client": "",
                  "password": "a long enough password"}, id="create a user"),
    pytest.param("finance", "/finance/invoices/issue", {"period": "2026-01", "confirmed": "yes"},
                 id="issue invoices"),
    pytest.param("admin", "/admin/vendor", {"legal_name": "Renamed GmbH", "country": "DE"}, id="edit the vendor"),
    pytest.param("finance", "/clients/ALPHA/billing", {"country": "US", "payment_terms_days": "14"},
                 id="edit billing details"),
]


@pytest.mark.parametrize("role, path, body", FORMS)
def test_a_form_post_without_its_csrf_token_is_refused_and_posts_nothing(app, alpha, role, path, body):
    browser, good_token = signed_in(app, role)
    url = path.format(**alpha)
    if role == "finance":  # something to invoice, so that the real post changes something
        with app.app_context():
            client = db.session.scalar(sa.select(Client).where(Client.code == "ALPHA"))
            bundles.buy_bundle(db.session, client, 5, date(2026, 1, 5))
            db.session.commit()
    body = {**body, "once": once(browser)}  # the one-time token is right: the CSRF token is what is tried
    before = row_counts(app)

    refused = {
        "no token": browser.post(url, data=body),
        "empty token": browser.post(url, data={**body, "csrf_token": ""}),
        "wrong token": browser.post(url, data={**body, "csrf_token": good_token[:-4] + "AAAA"}),
    }

    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 400)
    assert all("security token" in r.get_data(as_text=True) for r in refused.values())
    assert row_counts(app) == before
    accepted = browser.post(url, data={**body, "csrf_token": good_token})
    assert accepted.status_code == 302, accepted.get_data(as_text=True)[:2000]
    assert row_counts(app) != before


def test_a_token_from_another_session_does_not_count(app, alpha):
    victim, _ = signed_in(app, "account_manager")
    _, attackers_token = signed_in(app, "account_manager")
    before = row_counts(app)

    response = victim.post("/clients/ALPHA/bundles/new", data={
        "quantity": "10", "purchased_on": "2026-01-11", "csrf_token": attackers_token})

    assert response.status_code == 400
    assert row_counts(app) == before


def test_signing_in_without_the_token_is_refused(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()

    response = browser.post("/sign-in", data={"email": email, "password": PASSWORD})

    assert response.status_code == 400
    assert not is_signed_in(browser)


def test_signing_out_takes_a_post_with_its_token(app):
    browser, token = signed_in(app, "account_manager")

    assert browser.get("/sign-out").status_code == 405
    assert browser.post("/sign-out").status_code == 400
    assert browser.get("/clients").status_code == 200  # still signed in
    assert browser.post("/sign-out", data={"csrf_token": token, "once": once(browser)}).status_code == 302
    assert browser.get("/clients").status_code == 302


# --- cookies ----------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()

    response = sign_in(browser, email)

    assert response.status_code == 302
    cookie = flags(set_cookie(response))
    assert {"httponly", "samesite=lax"} <= cookie
    assert "secure" not in cookie


def test_the_session_cookie_is_secure_over_https(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()
    page = browser.get("/sign-in", base_url=HTTPS).get_data(as_text=True)

    response = browser.post("/sign-in", base_url=HTTPS, headers={"Referer": f"{HTTPS}/sign-in"},
                            data={"email": email, "password": PASSWORD, "csrf_token": CSRF.search(page).group(1)})

    assert response.status_code == 302
    cookie = flags(set_cookie(response))
    assert {"secure", "httponly", "samesite=lax"} <= cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# --- password guessing --------------------------------------------------------------------


def age_failures(app, by: timedelta) -> None:
    """Move every recorded failed sign-in ``by`` into the past: as if that much time went by."""
    with app.app_context():
        for failure in db.session.scalars(sa.select(LoginFailure)):
            failure.at = failure.at - by
        db.session.commit()


@pytest.mark.parametrize("guesses", ["one account", "one address, different emails"])
def test_the_sixth_wrong_password_within_a_minute_gets_429(app, guesses):
    email = add_user(app, "account_manager")
    browser = app.test_client()
    emails = [email] * 6 if guesses == "one account" else [f"guess{i}@example.com" for i in range(5)] + [email]

    answers = [sign_in(browser, each, "wrong password!").status_code for each in emails]

    assert answers == [422] * 5 + [429]


def test_a_wrong_password_says_so_beside_the_field_and_is_not_echoed(app):
    email = add_user(app, "account_manager")

    response = sign_in(app.test_client(), email, "my-secret-guess")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The email or password is not right." in page
    assert "my-secret-guess" not in page
    assert f'value="{email}"' in page  # the email is kept


def test_the_right_password_is_refused_too_until_the_window_has_passed(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()
    for _ in range(5):
        assert sign_in(browser, email, "wrong password!").status_code == 422

    while_locked = sign_in(browser, email)
    age_failures(app, timedelta(seconds=61))
    after_the_window = sign_in(browser, email)

    assert while_locked.status_code == 429
    assert "Too many failed sign-ins" in while_locked.get_data(as_text=True)
    assert after_the_window.status_code == 302
    assert is_signed_in(browser)


def test_failures_older_than_a_minute_do_not_count(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()
    for _ in range(5):
        sign_in(browser, email, "wrong password!")
    age_failures(app, timedelta(seconds=61))

    assert sign_in(browser, email, "wrong password!").status_code == 422
    assert sign_in(browser, email).status_code == 302


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("role, pages", [
    ("anonymous", {"/sign-in": 200, "/clients": 302, "/static/app.css": 200}),
    ("account_manager", {"/clients": 200, "/clients/ALPHA": 200, "/cases/{case}": 200, "/clients/NOPE": 404,
                         "/portal/": 403}),
    ("client", {"/portal/": 200, "/clients": 403}),
    ("finance", {"/finance/invoices": 200, "/finance/rate-card": 200}),
    ("admin", {"/admin/users": 200, "/admin/vendor": 200, "/clients/ALPHA/billing": 200}),
])
def test_every_page_carries_the_security_headers(app, alpha, role, pages):
    browser, _ = signed_in(app, role, client="ALPHA" if role == "client" else None)

    for path, status in pages.items():
        response = browser.get(path.format(**alpha))
        response.close()  # a static file is streamed: let go of it

        assert response.status_code == status, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Strict-Transport-Security" not in response.headers, path  # plain http: no HSTS promise


def test_pages_have_no_inline_script_or_style_for_the_policy_to_block(app, alpha):
    browser, _ = signed_in(app, "account_manager")

    for path in ("/clients", "/clients/ALPHA", f"/cases/{alpha['case']}", "/clients/ALPHA/quotes/new",
                 "/clients/ALPHA/billing"):
        page = browser.get(path).get_data(as_text=True).lower()
        assert "<script" not in page and "<style" not in page and " style=" not in page, path
        assert " onclick=" not in page and " onload=" not in page, path


# --- passwords and accounts ---------------------------------------------------------------


def stored_hash(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(User.password_hash).where(User.email == email))


def test_a_password_set_on_the_admin_pages_is_stored_as_an_scrypt_hash(app):
    browser, token = signed_in(app, "admin")

    created = browser.post("/admin/users", data={
        "email": "new.person@example.com", "role": "finance", "client": "",
        "password": "a long enough password", "csrf_token": token, "once": once(browser)})
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == "new.person@example.com"))
    reset = browser.post(f"/admin/users/{user_id}/password", data={
        "password": "another long password", "csrf_token": token, "once": once(browser)})

    assert (created.status_code, reset.status_code) == (302, 302)
    stored = stored_hash(app, "new.person@example.com")
    assert stored.startswith("scrypt:")
    assert "another long password" not in stored
    assert sign_in(app.test_client(), "new.person@example.com", "another long password").status_code == 302


def test_two_users_with_the_same_password_get_different_hashes(app):
    with app.app_context():
        for email in ("one@example.com", "two@example.com"):
            create_user(db.session, email, "finance", password=PASSWORD)
        db.session.commit()

    first, second = stored_hash(app, "one@example.com"), stored_hash(app, "two@example.com")

    assert first.startswith("scrypt:32768:8:1$") and second.startswith("scrypt:32768:8:1$")
    assert first != second  # salted
    assert PASSWORD not in first


def test_a_deactivated_user_cannot_sign_in_and_is_signed_out(app):
    email = add_user(app, "account_manager")
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    admin, token = signed_in(app, "admin")
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == email))

    assert admin.post(f"/admin/users/{user_id}/deactivate", data={
        "csrf_token": token, "once": once(admin), "confirmed": "yes"}).status_code == 302
    already_in = browser.get("/clients")
    again = sign_in(app.test_client(), email)

    assert already_in.status_code == 302 and already_in.headers["Location"].startswith("/sign-in")
    assert again.status_code == 422
    assert "The email or password is not right." in again.get_data(as_text=True)


# --- escaping -----------------------------------------------------------------------------

SCRIPT_NAME = "<script>alert('name')</script> & Sons"
SCRIPT_SUBJECT = "<img src=x onerror=alert('subject')>"


@pytest.fixture
def hostile(app, make_client, rate_card) -> dict:
    """A client and a case whose name and subject are HTML."""
    make_client("EVIL", name=SCRIPT_NAME)
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "EVIL"))
        case = support.open_case(db.session, client, SCRIPT_SUBJECT, "major", OPENED)
        db.session.commit()
        return {"case": case.number}


@pytest.mark.parametrize("role, paths", [
    ("account_manager", ["/clients", "/clients?q=EVIL", "/clients/EVIL", "/cases/{case}", "/clients/EVIL/cases/new",
                         "/clients/EVIL/billing"]),
    ("client", ["/portal/", "/portal/cases"]),
    ("finance", ["/finance/invoices"]),
    ("admin", ["/admin/users"]),
])
def test_html_typed_into_a_name_or_subject_is_shown_escaped(app, hostile, role, paths):
    browser, _ = signed_in(app, role, client="EVIL" if role == "client" else None)

    for path in paths:
        page = browser.get(path.format(**hostile)).get_data(as_text=True)

        assert "<script>alert" not in page and "<img src=x" not in page, path
        shown = [text for text in ("&lt;script&gt;alert(", "&lt;img src=x onerror=alert(") if text in page]
        assert shown, f"neither the name nor the subject is on {path}"
