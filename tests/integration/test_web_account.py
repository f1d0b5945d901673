"""Time zones, each user's own settings, named and expiring API tokens, and the audit page.

Every time a page shows is in the viewer's zone (their own, else their organisation's, else UTC)
and names it; forms read typed times in the client's zone; the instant stored never changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from ledger.extensions import db
from ledger.models import ApiToken, Case, Client, User
from ledger.services import bundles, support
from ledger.services import users as accounts
from tests.helpers import PASSWORD, Browser, form_fields, page_text, words

#: 21:00 UTC on a winter evening: 16:00 in Toronto, 22:00 in Berlin
INSTANT = datetime(2026, 1, 12, 21, 0, tzinfo=UTC)
NEW_PASSWORD = "a much longer secret"


def seen(response) -> str:
    """The page's words with Babel's narrow no-break spaces as plain ones."""
    return words(response).replace("\u202f", " ").replace("\xa0", " ")


def set_zone(app, email: str | None = None, *, client: str | None = None, zone: str | None) -> None:
    with app.app_context():
        if email is not None:
            db.session.scalar(select(User).where(User.email == email)).time_zone = zone
        else:
            db.session.scalar(select(Client).where(Client.code == client)).time_zone = zone
        db.session.commit()


def open_case_at(app, code: str, moment: datetime) -> str:
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == code))
        bundles.buy_bundle(db.session, client, 5, moment.date())
        number = support.open_case(db.session, client, "Printer on fire", "critical", moment).number
        db.session.commit()
        return number


def stored_opened_at(app, number: str) -> datetime:
    with app.app_context():
        return db.session.scalar(select(Case.opened_at).where(Case.number == number))


def signed_in_as(app, make_user, role: str, client: str | None = None) -> tuple[Browser, str]:
    browser, email = Browser(app), make_user(role, client)
    assert browser.sign_in(email).status_code == 302
    return browser, email


# --- time zones ---------------------------------------------------------------------------------


def test_the_same_instant_reads_in_each_viewers_zone_labelled_and_is_stored_once(app, make_client, rate_card,
                                                                                  make_user):
    make_client("ACME")
    number = open_case_at(app, "ACME", INSTANT)
    toronto, toronto_email = signed_in_as(app, make_user, "account_manager")
    berlin, berlin_email = signed_in_as(app, make_user, "account_manager")
    set_zone(app, toronto_email, zone="America/Toronto")
    set_zone(app, berlin_email, zone="Europe/Berlin")

    in_toronto = seen(toronto.get(f"/cases/{number}"))
    in_berlin = seen(berlin.get(f"/cases/{number}"))

    assert "opened Jan 12, 2026, 4:00 PM EST" in in_toronto
    assert "opened Jan 12, 2026, 10:00 PM CET" in in_berlin
    assert stored_opened_at(app, number) == INSTANT


def test_a_user_without_a_zone_reads_times_in_their_organisations_and_staff_in_utc(app, make_client, rate_card,
                                                                                   make_user):
    make_client("BRAU", currency="USD", locale="de_DE")
    set_zone(app, client="BRAU", zone="Europe/Berlin")
    number = open_case_at(app, "BRAU", INSTANT)
    client_user, _ = signed_in_as(app, make_user, "client", "BRAU")
    manager, _ = signed_in_as(app, make_user, "account_manager")

    assert "22:00 CET" in seen(client_user.get(f"/portal/cases/{number}"))  # BRAU's portal is German
    assert "9:00 PM UTC" in seen(manager.get(f"/cases/{number}"))


def test_a_case_form_starts_in_the_clients_zone_and_reads_the_typed_time_there(app, make_client, rate_card,
                                                                               make_user):
    make_client("BRAU")
    set_zone(app, client="BRAU", zone="Europe/Berlin")
    manager, _ = signed_in_as(app, make_user, "account_manager")

    form_page = manager.get("/clients/BRAU/cases/new")
    started_at = re.search(r'name="opened_at"[^>]*value="([^"]*)"', form_page.get_data(as_text=True)).group(1)
    posted = manager.post("/clients/BRAU/cases/new", {  # no time zone posted: the client's
        "subject": "Kühlhaus offline", "severity": "critical", "opened_at": "2026-01-12T22:00"})

    assert "Time zone (the client's: Europe/Berlin)" in words(form_page)
    assert '<option selected value="Europe/Berlin">' in form_page.get_data(as_text=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", started_at)
    assert posted.status_code == 302, page_text(posted)
    number = posted.headers["Location"].rsplit("/", 1)[-1]
    assert stored_opened_at(app, number) == INSTANT


def test_the_api_takes_a_clients_zone_defaults_it_and_refuses_an_unknown_one(app, api, rate_card):
    body = {"code": "ZED", "name": "Zed", "currency": "USD", "locale": "en_US", "tax_rate": "0",
            "term_start": "2026-01-01"}

    refused = api.post("/clients", {**body, "time_zone": "Mars/Base"})
    given = api.post("/clients", {**body, "time_zone": "Europe/Berlin"})
    default = api.post("/clients", {**body, "code": "ZED2"})
    changed = api.send("PATCH", "/clients/ZED2", {"time_zone": "Asia/Tokyo"})

    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "time_zone"
    assert "Mars/Base" in refused.get_json()["error"]["message"]
    assert given.status_code == 201 and given.get_json()["time_zone"] == "Europe/Berlin"
    assert default.status_code == 201 and default.get_json()["time_zone"] in ("UTC", "America/Toronto")
    assert changed.status_code == 200 and changed.get_json()["time_zone"] == "Asia/Tokyo"


# --- own settings -------------------------------------------------------------------------------


@pytest.fixture
def me(app, make_user) -> Browser:
    browser, email = signed_in_as(app, make_user, "finance")
    browser.email = email
    return browser


def preferences_of(app, email: str) -> tuple[str | None, str | None]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return user.time_zone, user.language


def test_a_user_saves_their_own_zone_and_language_and_then_reads_times_in_that_zone(app, me):
    settings = me.get("/account")
    saved = me.post("/account/preferences", {"time_zone": "Asia/Tokyo", "language": "fr_CA"})

    assert settings.status_code == 200 and 'list="time-zones"' in settings.get_data(as_text=True)
    assert saved.status_code == 302
    assert preferences_of(app, me.email) == ("Asia/Tokyo", "fr_CA")
    assert "Les heures sont en Asia/Tokyo" in words(me.get("/audit"))  # the page is in their language now
    assert me.post("/account/preferences", {"time_zone": "", "language": ""}).status_code == 302
    assert preferences_of(app, me.email) == (None, None)


@pytest.mark.parametrize(("typed", "field", "message"), [
    ({"time_zone": "Mars/Base", "language": "de"}, "time_zone", "'Mars/Base' is not an IANA time zone"),
    ({"time_zone": "Europe/Berlin", "language": "xx"}, "language", "the language is one of en, de, fr, fr_CA"),
    ({"time_zone": "x" * 10_000, "language": ""}, "time_zone", "Field cannot be longer than 64 characters"),
])
def test_an_unknown_zone_or_language_is_refused_beside_its_field_and_nothing_is_saved(app, me, typed, field,
                                                                                       message):
    response = me.post("/account/preferences", typed)

    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page_text(response))
    assert preferences_of(app, me.email) == (None, None)


def test_a_user_changes_their_own_password_and_stays_signed_in(app, me):
    changed = me.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                            "repeat_password": NEW_PASSWORD})

    assert changed.status_code == 302
    assert "Your password is changed" in words(me.get("/account"))
    assert Browser(app).sign_in(me.email, PASSWORD).status_code == 422
    assert Browser(app).sign_in(me.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(("typed", "field", "message"), [
    ({"current_password": "not my password", "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
     "current_password", "that is not your current password"),
    ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD + "!"},
     "repeat_password", "the two new passwords differ"),
    ({"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
     "new_password", "at least 10 characters"),
])
def test_a_refused_password_change_says_why_beside_the_field_and_changes_nothing(app, me, typed, field, message):
    response = me.post("/account/password", typed)

    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page_text(response))
    assert Browser(app).sign_in(me.email, PASSWORD).status_code == 302


def test_guessing_the_current_password_is_limited_like_signing_in(app, me):
    wrong = {"current_password": "guess", "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    answers = [me.post("/account/password", wrong).status_code for _ in range(6)]

    assert answers == [422] * 5 + [429]


# --- API tokens ---------------------------------------------------------------------------------


@pytest.fixture
def admin(app, make_user) -> Browser:
    return signed_in_as(app, make_user, "admin")[0]


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def create_token_page(admin: Browser, user: int, **fields):
    path = f"/admin/users/{user}/tokens"
    form = {**form_fields(admin.get(path), path), **fields}
    return admin.client.post(path, data=form)


def test_a_named_token_with_an_expiry_is_listed_with_its_owner_and_dates(app, admin, make_user, api):
    email = make_user("finance")
    user = user_id(app, email)
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()

    response = create_token_page(admin, user, name="Nightly export", expires=expires)
    token = re.search(r"<code>(sl_[^<]+)</code>", response.get_data(as_text=True)).group(1)
    assert api.get("/me", token=token).status_code == 200
    listed = seen(admin.get("/admin/tokens"))

    assert response.status_code == 201
    assert f"Nightly export {token[:10]}… {email}" in listed
    assert "12:00 AM UTC" in listed and " active " in f" {listed} "


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": "n" * 10_000}, "name", "at most 100 characters"),
    ({"name": "ok", "expires": "2020-01-01"}, "expires", "the expiry is a day after today"),
    ({"name": "ok", "expires": "tomorrow"}, "expires", "Not a valid date value"),
])
def test_a_refused_token_says_why_beside_its_field_and_creates_nothing(app, admin, make_user, fields, field,
                                                                        message):
    user = user_id(app, make_user("finance"))

    response = create_token_page(admin, user, **fields)

    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page_text(response))
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user)) is None


def test_an_expired_token_and_a_revoked_one_get_401(app, api, make_user):
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == make_user("finance")))
        expiring = accounts.create_token(db.session, owner, name="soon", expires_on=date.today() + timedelta(days=1))
        revoked = accounts.create_token(db.session, owner, name="gone")
        owner_id = owner.id
        db.session.commit()
    assert api.get("/me", token=expiring).status_code == 200
    assert api.get("/me", token=revoked).status_code == 200
    with app.app_context():
        for row in db.session.scalars(select(ApiToken).where(ApiToken.user_id == owner_id)).all():
            if row.name == "soon":
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)  # its day has come
            else:
                accounts.revoke_token(db.session, row.id)
        db.session.commit()

    assert api.get("/me", token=expiring).status_code == 401
    assert api.get("/me", token=revoked).status_code == 401


def test_a_tokens_last_use_is_written_at_most_once_a_minute(app, api, make_user):
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == make_user("finance")))
        token = accounts.create_token(db.session, owner)
        owner_id = owner.id
        db.session.commit()

    def last_used():
        with app.app_context():
            return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == owner_id))

    assert last_used() is None
    api.get("/me", token=token)
    first = last_used()
    api.get("/me", token=token)

    assert first is not None and last_used() == first
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner_id))
        assert accounts.note_use(row, first + timedelta(seconds=59)) is False
        assert accounts.note_use(row, first + timedelta(minutes=1)) is True


def test_revoking_a_token_asks_first_and_then_the_list_shows_it_revoked(app, admin, make_user, api):
    user = user_id(app, make_user("finance"))
    response = create_token_page(admin, user, name="CI")
    token = re.search(r"<code>(sl_[^<]+)</code>", response.get_data(as_text=True)).group(1)
    token_id = re.search(rf"/admin/users/{user}/tokens/(\d+)/revoke", page_text(response)).group(1)

    asked = admin.post(f"/admin/users/{user}/tokens/{token_id}/revoke")
    still = api.get("/me", token=token).status_code
    done = admin.confirm(asked)

    assert asked.status_code == 200 and "Revoke the token" in words(asked) and still == 200
    assert done.status_code == 302 and api.get("/me", token=token).status_code == 401
    assert " revoked " in f" {seen(admin.get(f'/admin/users/{user}/tokens'))} "


# --- the audit page -----------------------------------------------------------------------------


@pytest.fixture
def history(app, make_client, rate_card, make_user) -> dict:
    """A bundle sold by one manager, and a case opened by another."""
    make_client("ACME")
    sellers = [make_user("account_manager"), make_user("account_manager")]
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == "ACME"))
        first, second = (db.session.scalar(select(User).where(User.email == e)) for e in sellers)
        bundles.buy_bundle(db.session, client, 7, date(2026, 1, 5), user=first)
        bundles.buy_bundle(db.session, client, 3, date(2026, 1, 6), user=second)
        db.session.commit()
        return {"first": first.id, "second": second.id, "emails": sellers}


def test_the_audit_names_who_did_what_newest_first_and_filters_by_user(app, admin, history):
    everyone = seen(admin.get("/audit"))
    only_first = seen(admin.get(f"/audit?user={history['first']}"))

    assert everyone.index("purchase +3 incident") < everyone.index("purchase +7 incident")
    assert history["emails"][0] in everyone and history["emails"][1] in everyone
    assert "purchase +7 incident" in only_first and "purchase +3 incident" not in only_first


def test_the_audits_date_range_is_read_in_the_viewers_days(app, admin, history):
    today = datetime.now(UTC).date()

    tomorrow_on = seen(admin.get(f"/audit?from={today + timedelta(days=2)}"))
    up_to_today = seen(admin.get(f"/audit?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"))

    assert "Nothing was done in this range." in tomorrow_on
    assert "purchase +7 incident" in up_to_today


@pytest.mark.parametrize("query", ["page=-1", "page=1000000000", "page=abc", "from=" + "9" * 10_000,
                                   "to=2026-13-45", "user=<script>", "user=999999999999"])
def test_the_audit_handles_bad_filters_without_failing(app, admin, history, query):
    response = admin.get(f"/audit?{query}")

    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True).split("<main", 1)[1]


def test_finance_reads_the_audit_and_managers_and_clients_may_not(app, make_user, history):
    finance, _ = signed_in_as(app, make_user, "finance")
    manager, _ = signed_in_as(app, make_user, "account_manager")

    assert finance.get("/audit").status_code == 200
    assert manager.get("/audit").status_code == 403
