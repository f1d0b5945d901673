"""What an account manager sees on the pages: money in the client's locale, history lines that
explain themselves, form errors beside their field with the input kept, quote totals, waivers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from ledger import billing
from ledger.extensions import db
from ledger.models import Case, Client
from ledger.services import quotes, support
from tests.helpers import once, row_counts, signed_in

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()


def incidents_left(page: str) -> int:
    return int(re.search(r'id="incidents-left">(\d+)<', page).group(1))


def error_beside(page: str, field: str) -> str:
    """The error message shown beside ``field`` (empty when there is none)."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return found.group(1) if found else ""


@pytest.fixture
def manager(app):
    """A signed-in account manager's browser, and the CSRF token its forms carry."""
    return signed_in(app, "account_manager")


# --- money in the client's locale -----------------------------------------------------------


@pytest.mark.parametrize("currency, locale, one_day, incident", [
    ("USD", "en_US", "$1,200.00", "$200.00"),
    ("EUR", "de_DE", "1.200,00\xa0€", "200,00\xa0€"),
    ("CAD", "fr_CA", "1\xa0200,00\xa0$", "200,00\xa0$"),
])
def test_amounts_are_formatted_in_the_clients_locale_and_currency(app, make_client, rate_card, manager,
                                                                 currency, locale, one_day, incident):
    make_client("LOCAL", currency=currency, locale=locale)
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "LOCAL"))
        quote = quotes.create_quote(db.session, client, [billing.QuoteLineRequest("analyst", "day", Decimal(1))],
                                    TODAY + timedelta(days=30), TODAY)
        db.session.commit()
        number = quote.number
    browser, _ = manager

    quote_page = browser.get(f"/quotes/{number}").get_data(as_text=True)
    client_page = browser.get("/clients/LOCAL").get_data(as_text=True)
    bundle_page = browser.get("/clients/LOCAL/bundles/new").get_data(as_text=True)

    assert f"<strong>{one_day}</strong>" in quote_page  # the total
    assert one_day in client_page  # the quote's row
    assert f"Rate card price: {incident}" in bundle_page


# --- history lines ------------------------------------------------------------------------


def in_utc(local: str, zone: str) -> str:
    """``HH:MM`` today in ``zone``, as the same instant reads in UTC."""
    moment = datetime.combine(TODAY, time.fromisoformat(local), ZoneInfo(zone))
    return moment.astimezone(UTC).strftime("%H:%M")


@pytest.mark.parametrize("typed, minutes, charged", [
    ({"started_at": "14:00", "ended_at": "15:40", "time_zone": "UTC"}, "100 min = 4 incidents", 4),
    ({"started_at": "14:00", "ended_at": "15:40", "time_zone": "Europe/Berlin"}, "100 min = 4 incidents", 4),
    ({"started_at": "09:00", "ended_at": "09:45", "time_zone": "America/New_York"}, "45 min = 2 incidents", 2),
    ({"started_at": "14:00", "duration": "61", "time_zone": "UTC"}, "61 min = 3 incidents", 3),
])
def test_a_logged_appointment_reads_in_the_readers_zone_named_with_its_minutes_and_incidents(
        app, acme, manager, typed, minutes, charged):
    """Typed in any zone, the times read in the reader's (this account manager's: UTC), named."""
    browser, token = manager
    ends = typed.get("ended_at") or (datetime.combine(TODAY, time.fromisoformat(typed["started_at"]))
                                     + timedelta(minutes=int(typed["duration"]))).strftime("%H:%M")
    line = (f"appointment {in_utc(typed['started_at'], typed['time_zone'])}–{in_utc(ends, typed['time_zone'])} UTC, "
            f"{minutes}")
    form = {"technician": "Tess Tech", "csrf_token": token, "once": once(browser), "time_zone": typed["time_zone"],
            "started_at": f"{DAY}T{typed['started_at']}"}
    if "ended_at" in typed:
        form["ended_at"] = f"{DAY}T{typed['ended_at']}"
    else:
        form["duration"] = typed["duration"]

    posted = browser.post(f"/cases/{acme['case']}/appointments", data=form)
    case_page = browser.get(posted.headers["Location"]).get_data(as_text=True)
    client_page = browser.get("/clients/ACME").get_data(as_text=True)

    assert posted.status_code == 302
    assert f"Logged: {line}." in case_page
    assert f"<td>{line}</td>" in case_page
    assert f"<td>{line}</td>" in client_page
    assert incidents_left(client_page) == 10 - charged


def test_a_help_desk_answer_and_a_second_response_are_logged_free(app, acme, manager):
    browser, token = manager
    case = acme["case"]

    for path, form in [
        ("helpdesk-answers", {"answered_at": f"{DAY}T10:00", "by": "Hank", "time_zone": "UTC"}),
        ("responses", {"responded_at": f"{DAY}T11:00", "technician": "Tess", "time_zone": "UTC"}),
        ("responses", {"responded_at": f"{DAY}T12:00", "technician": "Tom", "time_zone": "UTC"}),
    ]:
        assert browser.post(f"/cases/{case}/{path}", data={**form, "csrf_token": token, "once": once(browser)}).status_code == 302
    page = browser.get(f"/cases/{case}").get_data(as_text=True)

    assert "<td>help-desk answer by Hank = 0 incidents</td>" in page
    assert "<td>technician response by Tess = 1 incident</td>" in page
    assert "<td>technician response by Tom (case already charged) = 0 incidents</td>" in page
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 9


# --- form errors beside the field, input kept, nothing posted -------------------------------

YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
TOMORROW = (TODAY + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("typed, field, message", [
    pytest.param({"started_at": f"{DAY}T15:40", "ended_at": f"{DAY}T14:00"},
                 "ended_at", "the appointment must end after it starts", id="ends before it starts"),
    pytest.param({"started_at": f"{DAY}T14:00", "ended_at": f"{DAY}T14:00"},
                 "ended_at", "the appointment must end after it starts", id="lasts no time"),
    pytest.param({"started_at": f"{DAY}T14:00", "ended_at": f"{TOMORROW}T14:01"},
                 "ended_at", "a single appointment may last at most 24 hours", id="longer than a day"),
    pytest.param({"started_at": f"{DAY}T14:00"},
                 "duration", "Give an end time or a duration.", id="no end"),
    pytest.param({"started_at": f"{DAY}T14:00", "ended_at": f"{DAY}T15:00", "duration": "60"},
                 "duration", "Give an end time or a duration, not both.", id="end and duration"),
    pytest.param({"started_at": f"{YESTERDAY}T14:00", "ended_at": f"{YESTERDAY}T15:00"},
                 "started_at", "before case", id="before the case was opened"),
])
def test_a_bad_appointment_is_shown_again_with_the_error_beside_its_field(app, acme, manager, typed, field,
                                                                          message):
    browser, token = manager
    before = row_counts(app)

    response = browser.post(f"/cases/{acme['case']}/appointments", data={
        **typed, "time_zone": "Europe/Paris", "technician": "Tess Tech", "note": "Replaced the disk",
        "csrf_token": token, "once": once(browser)})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in error_beside(page, field)
    assert f'value="{typed["started_at"]}"' in page  # what was typed is still there
    assert 'value="Tess Tech"' in page and "Replaced the disk</textarea>" in page
    assert '<option selected value="Europe/Paris">' in page
    assert row_counts(app) == before


@pytest.mark.parametrize("typed, field, message", [
    pytest.param({"quantity": "0"}, "quantity", "Number must be between 1 and 100000.", id="0 incidents"),
    pytest.param({"quantity": "-3"}, "quantity", "Number must be between 1 and 100000.", id="negative"),
    pytest.param({"quantity": "ten"}, "quantity", "Not a valid integer value.", id="not a number"),
    pytest.param({"quantity": ""}, "quantity", "This field is required.", id="blank"),
    pytest.param({"quantity": "5", "unit_price": "-1"}, "unit_price", "Number must be at least 0.",
                 id="negative price"),
])
def test_a_bad_bundle_is_shown_again_with_the_error_beside_its_field(app, acme, manager, typed, field, message):
    browser, token = manager
    before = row_counts(app)

    response = browser.post("/clients/ACME/bundles/new", data={
        "unit_price": "150.00", **typed, "purchased_on": DAY, "csrf_token": token, "once": once(browser)})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in error_beside(page, field)
    assert re.search(rf'id="quantity"[^>]*value="{re.escape(typed["quantity"])}"', page)
    assert row_counts(app) == before
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 10


# --- quotes -------------------------------------------------------------------------------


def quote_form(token: str, action: str, *lines: tuple[str, str, str]) -> dict:
    """The quote form as posted: five line rows, the filled ones first."""
    form = {"valid_until": (TODAY + timedelta(days=30)).isoformat(), "action": action, "csrf_token": token}
    for index in range(5):
        role, unit, quantity = lines[index] if index < len(lines) else ("", "hour", "")
        form.update({f"lines-{index}-role": role, f"lines-{index}-unit": unit, f"lines-{index}-quantity": quantity})
    return form


def test_the_quote_form_previews_the_totals_and_saves_nothing_until_asked(app, acme, manager):
    browser, token = manager
    lines = [("analyst", "hour", "34"), ("developer", "day", "1")]  # 42 h: the 5 % tier
    before = row_counts(app)

    preview = browser.post("/clients/ACME/quotes/new",
                             data={**quote_form(token, "preview", *lines), "once": once(browser)})
    shown = preview.get_data(as_text=True)
    unchanged = row_counts(app)
    saved = browser.post("/clients/ACME/quotes/new",
                           data={**quote_form(token, "save", *lines), "once": once(browser)})
    quote_page = browser.get(saved.headers["Location"]).get_data(as_text=True)

    assert preview.status_code == 200
    assert 'id="preview"' in shown
    # 34 h × $150 + 1 day × $1,000 = $6,100.00; 5 % off = $305.00; $5,795.00
    for amount in ("$5,100.00", "$1,000.00", "$6,100.00", "−$305.00", "<strong>$5,795.00</strong>"):
        assert amount in shown, amount
    assert 'value="34"' in shown  # the lines are still filled in
    assert unchanged == before
    assert saved.status_code == 302
    assert "<strong>$5,795.00</strong>" in quote_page and "−$305.00" in quote_page


def test_a_quote_quantity_that_is_not_in_quarters_is_refused_with_the_lines_kept(app, acme, manager):
    browser, token = manager
    before = row_counts(app)

    response = browser.post("/clients/ACME/quotes/new",
                            data={**quote_form(token, "save", ("analyst", "hour", "0.1")), "once": once(browser)})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="error">quantity is a positive multiple of 0.25</p>' in page  # under the lines
    assert re.search(r'id="lines-0-quantity"[^>]*value="0.1"', page)
    assert '<option selected value="analyst">' in page
    assert row_counts(app) == before


# --- waivers ------------------------------------------------------------------------------


@pytest.fixture
def appointment(app, acme) -> int:
    """A 100-minute appointment on ACME's case: 4 incidents charged."""
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == acme["case"]))
        activity = support.log_appointment(db.session, case, datetime.combine(TODAY, time(14), UTC),
                                           datetime.combine(TODAY, time(15, 40), UTC), "Tess Tech")
        db.session.commit()
        return activity.id


def test_waiving_a_charge_from_the_page_gives_the_incidents_back_and_says_why(app, acme, manager, appointment):
    browser, token = manager
    assert incidents_left(browser.get("/clients/ACME").get_data(as_text=True)) == 6

    form_page = browser.get(f"/activities/{appointment}/waive").get_data(as_text=True)
    posted = browser.post(f"/activities/{appointment}/waive", data={
        "reason": "Site down: our faulty update", "csrf_token": token, "once": once(browser)})
    client_page = browser.get(posted.headers["Location"]).get_data(as_text=True)
    case_page = browser.get(f"/cases/{acme['case']}").get_data(as_text=True)

    assert "appointment 14:00–15:40 UTC, 100 min = 4 incidents" in form_page
    assert posted.status_code == 302 and posted.headers["Location"] == "/clients/ACME"
    assert "The charge is waived." in client_page
    waived = "appointment 14:00–15:40 UTC, 100 min = 4 incidents — waived: Site down: our faulty update"
    assert waived in client_page and waived in case_page
    assert incidents_left(client_page) == 10
    assert f"/activities/{appointment}/waive" not in client_page  # no second waiver offered


def test_a_waiver_without_a_reason_is_refused_beside_the_field(app, acme, manager, appointment):
    browser, token = manager
    before = row_counts(app)

    response = browser.post(f"/activities/{appointment}/waive", data={"reason": "  ", "csrf_token": token, "once": once(browser)})

    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "reason")
    assert row_counts(app) == before
