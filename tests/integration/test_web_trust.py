"""The pages cannot be tricked into posting twice or kept signed in: one-time form tokens, a
confirmation step before irreversible actions, sessions that end on the server, no-store caching,
and a sign-in that costs the same for an unknown e-mail as for a real one."""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ledger.extensions import db
from tests.helpers import PASSWORD, add_user, csrf_token, form_fields, signed_in, words

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()


def incidents_left(page: str) -> int:
    return int(re.search(r'id="incidents-left">(\d+)<', page).group(1))


# --- one-time form tokens ----------------------------------------------------------------------


def test_the_same_appointment_form_posted_twice_charges_three_incidents_not_six(app, acme):
    browser, _ = signed_in(app, "account_manager")
    action = f"/cases/{acme['case']}/appointments"
    fields = form_fields(browser.get(f"/cases/{acme['case']}"), action)
    fields.update(started_at=f"{DAY}T14:00", duration="61", technician="Tess Tech", time_zone="UTC")

    first = browser.post(action, data=fields)
    second = browser.post(action, data=fields)
    shown = browser.get(second.headers["Location"])

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert "This form was sent already" in words(shown)
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 10 - 3


def test_a_form_post_without_its_one_time_token_posts_nothing(app, acme):
    browser, token = signed_in(app, "account_manager")

    response = browser.post(f"/cases/{acme['case']}/appointments", data={
        "csrf_token": token, "started_at": f"{DAY}T14:00", "duration": "61", "technician": "Tess",
        "time_zone": "UTC"})

    assert response.status_code == 400
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 10


def test_another_sessions_one_time_token_does_not_count(app, acme):
    owner, _ = signed_in(app, "account_manager")
    thief, _ = signed_in(app, "account_manager")
    stolen = form_fields(owner.get(f"/cases/{acme['case']}"), f"/cases/{acme['case']}/appointments")["once"]
    fields = form_fields(thief.get(f"/cases/{acme['case']}"), f"/cases/{acme['case']}/appointments")
    fields.update(once=stolen, started_at=f"{DAY}T14:00", duration="61", technician="Tess", time_zone="UTC")

    assert thief.post(f"/cases/{acme['case']}/appointments", data=fields).status_code == 400


# --- a second step before an irreversible action ------------------------------------------------


def test_selling_a_bundle_asks_for_confirmation_and_only_the_confirmed_post_sells(app, acme):
    browser, _ = signed_in(app, "account_manager")
    action = "/clients/ACME/bundles/new"
    fields = form_fields(browser.get(action), None)  # the form posts back to its own page
    fields.update(quantity="5", purchased_on=DAY)

    asked = browser.post(action, data=fields)
    left_after_asking = incidents_left(browser.get("/clients/ACME").get_data(as_text=True))
    confirm = form_fields(asked, action)
    done = browser.post(action, data=confirm)

    assert asked.status_code == 200
    assert "Sell a bundle of 5 incidents to Acme Corp" in words(asked)
    assert confirm["confirmed"] == "yes" and confirm["quantity"] == "5"
    assert left_after_asking == 10
    assert done.status_code == 302
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 15


def test_deactivating_a_user_asks_for_confirmation_and_only_the_confirmed_post_deactivates(app):
    email = add_user(app, "finance")
    admin, _ = signed_in(app, "admin")
    with app.app_context():
        user_id = db.session.scalar(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email})
    page, action = f"/admin/users/{user_id}", f"/admin/users/{user_id}/deactivate"

    asked = admin.post(action, data=form_fields(admin.get(page), action))
    with app.app_context():
        still_active = db.session.scalar(sa.text("SELECT active FROM users WHERE id = :i"), {"i": user_id})
    confirm = form_fields(asked, action)
    done = admin.post(action, data=confirm)

    assert asked.status_code == 200
    assert f"Deactivate {email}" in words(asked) and "can no longer sign in" in words(asked)
    assert confirm["confirmed"] == "yes"
    assert still_active
    assert done.status_code == 302
    assert f"{email} is deactivated" in words(admin.get(done.headers["Location"]))


# --- sessions end on the server -------------------------------------------------------------------


def reuse_cookie(app, cookie: str):
    """A new browser presenting a saved session cookie."""
    browser = app.test_client()
    browser.set_cookie("session", cookie)
    return browser


def session_cookie(browser) -> str:
    return browser.get_cookie("session").value


def test_a_saved_cookie_no_longer_works_after_sign_out(app):
    browser, _ = signed_in(app, "account_manager")
    saved = session_cookie(browser)
    assert reuse_cookie(app, saved).get("/clients").status_code == 200

    out = form_fields(browser.get("/clients"), "/sign-out")
    assert browser.post("/sign-out", data=out).status_code == 302

    assert reuse_cookie(app, saved).get("/clients").status_code == 302  # to the sign-in page


@pytest.mark.parametrize("action", ["password", "deactivate"])
def test_a_password_change_or_deactivation_ends_every_session_of_that_user(app, action):
    email = add_user(app, "account_manager")
    sessions = []
    for _ in range(2):
        browser = app.test_client()
        token = csrf_token(browser)
        assert browser.post("/sign-in", data={"email": email, "password": PASSWORD,
                                              "csrf_token": token}).status_code == 302
        sessions.append(session_cookie(browser))
    admin, _ = signed_in(app, "admin")
    with app.app_context():
        user_id = db.session.scalar(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email})
    page = f"/admin/users/{user_id}"
    if action == "password":
        fields = form_fields(admin.get(page), f"{page}/password")
        fields["password"] = "a brand new password"
        assert admin.post(f"{page}/password", data=fields).status_code == 302
    else:
        asked = admin.post(f"{page}/deactivate", data=form_fields(admin.get(page), f"{page}/deactivate"))
        assert admin.post(f"{page}/deactivate", data=form_fields(asked, f"{page}/deactivate")).status_code == 302

    assert [reuse_cookie(app, cookie).get("/clients").status_code for cookie in sessions] == [302, 302]


# --- caching -----------------------------------------------------------------------------------


def test_pages_and_documents_are_never_stored_by_a_cache(app, alpha):  # noqa: F811
    client, _ = signed_in(app, "client", client="ALPHA")
    finance, _ = signed_in(app, "finance")

    responses = [client.get("/portal/"), client.get(f"/portal/invoices/{alpha['invoice']}.pdf"),
                 finance.get("/finance/export.csv?period=2026-01"), finance.get(f"/quotes/{alpha['quote']}/pdf"),
                 app.test_client().get("/sign-in")]

    assert [r.status_code for r in responses] == [200] * 5
    assert [r.headers.get("Cache-Control") for r in responses] == ["no-store"] * 5


# --- sign-in costs the same whoever is named -----------------------------------------------------


def sign_in_time(app, email: str, address: str) -> float:
    browser = app.test_client()
    token = csrf_token(browser)
    started = time.perf_counter()
    response = browser.post("/sign-in", data={"email": email, "password": "not the password",
                                              "csrf_token": token}, environ_base={"REMOTE_ADDR": address})
    elapsed = time.perf_counter() - started
    assert response.status_code == 422
    return elapsed


def test_an_unknown_email_takes_as_long_to_refuse_as_a_real_one(app):
    known = [add_user(app, "account_manager") for _ in range(5)]
    sign_in_time(app, "warm-up@example.com", "10.0.0.99")  # the first check in a process sets things up

    real = [sign_in_time(app, email, f"10.0.1.{n}") for n, email in enumerate(known)]
    unknown = [sign_in_time(app, f"nobody-{n}@example.com", f"10.0.2.{n}") for n in range(5)]

    ratio = statistics.median(unknown) / statistics.median(real)
    assert 0.5 <= ratio <= 2, (real, unknown)
