"""The admin pages: users, roles, passwords and API tokens.

SPEC.md: an admin manages users, roles and API tokens. A created user can sign in;
a deactivated one cannot (nor use its tokens); a token is shown once, works against
the API, and stops working when revoked. Only admins open these pages.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ledger.extensions import db
from ledger.models import User
from tests.helpers import PASSWORD, Browser, form_fields, page_text, words

NEW_PASSWORD = "a much longer secret"


@pytest.fixture
def admin(browser_as) -> Browser:
    return browser_as("admin")


def create_user(admin: Browser, **fields):
    """Fill in the new-user form as an admin would."""
    form = form_fields(admin.get("/admin/users"), "/admin/users")
    form.update({"password": PASSWORD, **fields})
    return admin.client.post("/admin/users", data=form)


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


# --- creating users -----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "client", "listed_as", "lands_on"), [
    ("finance", "", "Finance", "/finance/invoices"),
    ("account_manager", "", "Account manager", "/clients"),
    ("admin", "", "Administrator", "/admin/users"),
    ("client", "ACME", "Client ACME", "/portal/"),
])
def test_an_admin_creates_a_user_who_can_then_sign_in(app, admin, make_client, role, client, listed_as, lands_on):
    make_client("ACME")

    response = create_user(admin, email="New.Person@Example.com", role=role, client=client)

    assert response.status_code == 302 and response.location == "/admin/users"
    listed = words(admin.get("/admin/users"))
    assert "User new.person@example.com created" in listed
    assert f"new.person@example.com {listed_as} active" in listed
    signed_in = Browser(app).sign_in("new.person@example.com", PASSWORD)
    assert signed_in.status_code == 302 and signed_in.location == lands_on


@pytest.mark.parametrize(("fields", "beside", "message"), [
    ({"email": "not-an-email"}, "email", "'not-an-email' is not an email address"),
    ({"email": ""}, "email", "This field is required."),
    ({"role": "client", "client": ""}, "client", "a client user belongs to one client"),
    ({"role": "finance", "client": "ACME"}, "client", "only a client user does"),
    ({"password": "too short"}, "password", "a password has at least 10 characters"),
    ({"password": ""}, "password", "This field is required."),
    ({"role": "owner"}, "role", "Not a valid choice."),
    ({"client": "NOBODY", "role": "client"}, "client", "Not a valid choice."),
])
def test_a_refused_user_shows_the_error_beside_its_field_and_creates_nobody(app, admin, make_client, fields, beside,
                                                                           message):
    make_client("ACME")
    before = count_users(app)

    response = create_user(admin, **{"email": "new@example.com", "role": "finance", **fields})

    assert response.status_code == 422
    error = page_text(response).split(f'id="{beside}-error"')[1].split("</p>")[0]
    assert message in error
    assert count_users(app) == before


def test_an_email_can_be_taken_only_once(app, admin):
    assert create_user(admin, email="twin@example.com", role="finance").status_code == 302

    response = create_user(admin, email="TWIN@example.com", role="account_manager")

    assert response.status_code == 422
    assert "a user twin@example.com exists already" in page_text(response).split('id="email-error"')[1]


def test_creating_a_user_without_the_forms_csrf_token_creates_nobody(app, admin):
    before = count_users(app)

    response = admin.post("/admin/users", {"email": "new@example.com", "role": "finance", "password": PASSWORD},
                          csrf=False)

    assert response.status_code == 400
    assert count_users(app) == before


# --- deactivating, passwords --------------------------------------------------------------


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_until_reactivated(app, admin, make_user):
    email = make_user("finance")
    elsewhere = Browser(app)
    assert elsewhere.sign_in(email).status_code == 302
    assert elsewhere.get("/finance/invoices").status_code == 200

    deactivated = admin.confirm(admin.post(f"/admin/users/{user_id(app, email)}/deactivate"))

    assert deactivated.status_code == 302
    assert f"{email} is deactivated" in words(admin.get("/admin/users"))
    assert elsewhere.get("/finance/invoices").location.startswith("/sign-in")
    refused = Browser(app).sign_in(email)
    assert refused.status_code == 422 and "The email or password is not right." in page_text(refused)

    admin.post(f"/admin/users/{user_id(app, email)}/reactivate")

    assert f"{email} is active again" in words(admin.get("/admin/users"))
    assert Browser(app).sign_in(email).status_code == 302


def test_an_admin_cannot_deactivate_themselves(app, admin):
    own_id = user_id(app, admin.email)

    response = admin.post(f"/admin/users/{own_id}/deactivate")

    assert "You cannot deactivate yourself" in words(admin.get(response.location))
    with app.app_context():
        assert db.session.get(User, own_id).active


def test_a_password_reset_lets_the_user_in_with_the_new_password_only(app, admin, make_user):
    email = make_user("account_manager")
    page = f"/admin/users/{user_id(app, email)}"
    form = form_fields(admin.get(page), f"{page}/password")

    response = admin.client.post(f"{page}/password", data={**form, "password": NEW_PASSWORD})

    assert response.status_code == 302
    assert f"The password of {email} is changed; they are signed out everywhere." in words(admin.get(response.location))
    assert Browser(app).sign_in(email, PASSWORD).status_code == 422
    assert Browser(app).sign_in(email, NEW_PASSWORD).status_code == 302


def test_a_too_short_new_password_is_refused_beside_the_field(app, admin, make_user):
    email = make_user("account_manager")
    page = f"/admin/users/{user_id(app, email)}"
    form = form_fields(admin.get(page), f"{page}/password")

    response = admin.client.post(f"{page}/password", data={**form, "password": "short"})

    assert response.status_code == 422
    assert "a password has at least 10 characters" in page_text(response).split('id="password-error"')[1]
    assert Browser(app).sign_in(email, PASSWORD).status_code == 302


# --- API tokens ---------------------------------------------------------------------------


def new_token(admin: Browser, user: int) -> tuple[object, str]:
    tokens = f"/admin/users/{user}/tokens"
    response = admin.client.post(tokens, data=form_fields(admin.get(tokens), tokens))
    return response, re.search(r"<code>(sl_[^<]+)</code>", response.get_data(as_text=True)).group(1)


def test_a_token_is_shown_once_works_against_the_api_and_stops_working_when_revoked(app, admin, api, make_user):
    email = make_user("finance")
    user = user_id(app, email)

    response, token = new_token(admin, user)

    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    assert "it is shown this once and never again" in words(response)
    listed = page_text(admin.get(f"/admin/users/{user}/tokens"))
    assert token not in listed and f"{token[:10]}…" in listed
    me = api.get("/me", token=token)
    assert me.status_code == 200 and me.get_json()["email"] == email

    token_id = re.search(rf"/admin/users/{user}/tokens/(\d+)/revoke", listed).group(1)
    asked = admin.post(f"/admin/users/{user}/tokens/{token_id}/revoke")
    assert asked.status_code == 200 and api.get("/me", token=token).status_code == 200  # not yet: asked first
    revoked = admin.confirm(asked)

    assert revoked.status_code == 302
    assert api.get("/me", token=token).status_code == 401
    page = page_text(admin.get(f"/admin/users/{user}/tokens"))
    assert f"/tokens/{token_id}/revoke" not in page and "is revoked" in page


def test_the_tokens_of_a_deactivated_user_stop_working(app, admin, api, make_user):
    user = user_id(app, make_user("account_manager"))
    _, token = new_token(admin, user)
    assert api.get("/me", token=token).status_code == 200

    admin.confirm(admin.post(f"/admin/users/{user}/deactivate"))

    assert api.get("/me", token=token).status_code == 401


def test_a_token_is_revoked_only_through_its_own_user(app, admin, make_user):
    owner, other = user_id(app, make_user("finance")), user_id(app, make_user("finance"))
    new_token(admin, owner)
    token_id = re.search(rf"/admin/users/{owner}/tokens/(\d+)/revoke",
                         page_text(admin.get(f"/admin/users/{owner}/tokens"))).group(1)

    response = admin.post(f"/admin/users/{other}/tokens/{token_id}/revoke")

    assert response.status_code == 404
    assert f"/tokens/{token_id}/revoke" in page_text(admin.get(f"/admin/users/{owner}/tokens"))


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["finance", "account_manager", "client"])
def test_only_admins_open_the_admin_pages(app, browser_as, make_client, make_user, role):
    make_client("ACME")
    someone = user_id(app, make_user("finance"))
    browser = browser_as(role, "ACME" if role == "client" else None)
    pages = [("GET", "/admin/users"), ("POST", "/admin/users"), ("GET", f"/admin/users/{someone}"),
             ("POST", f"/admin/users/{someone}/deactivate"), ("POST", f"/admin/users/{someone}/password"),
             ("GET", f"/admin/users/{someone}/tokens"), ("POST", f"/admin/users/{someone}/tokens"),
             ("POST", f"/admin/users/{someone}/tokens/1/revoke")]

    statuses = {f"{method} {path}": (browser.get(path) if method == "GET" else browser.post(path)).status_code
                for method, path in pages}

    assert statuses == {page: 403 for page in statuses}
    with app.app_context():
        assert db.session.get(User, someone).active
