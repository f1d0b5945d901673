"""Service levels on the pages: the account manager's queue and case page, the client's cases and
monthly summary, and the summary on the invoice's usage statement."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app

from ledger.businesstime import Target, weekly_hours
from ledger.extensions import db
from ledger.models import Case, Client, Invoice, User
from ledger.pdf import render_invoice_html
from ledger.services import bundles, sla, support
from ledger.services.statement import service_levels
from tests.helpers import bill_march, issue, make_march_client, once, signed_in

NOW = datetime.now(UTC)
#: Friday 9 January 2026, 16:00 in Toronto: a major case is due a response Monday 16:00
FRIDAY_4PM_TORONTO = datetime.fromisoformat("2026-01-09T16:00:00-05:00")


def client_named(code: str) -> Client:
    return db.session.scalar(sa.select(Client).where(Client.code == code))


def add_case(code: str, subject: str, severity: str, opened_at: datetime, responded_at: datetime | None = None) -> str:
    """Open a case for ``code`` (and log a technician's response); returns its number."""
    client = client_named(code)
    case = support.open_case(db.session, client, subject, severity, opened_at)
    if responded_at is not None:
        support.log_technician_response(db.session, case, responded_at, "Tess")
    return case.number


@pytest.fixture
def plans(app):
    """The seed plans, and ``clockwork``: every hour of the week is business time, so due times are clock times."""
    with app.app_context():
        sla.seed_support_plans(db.session)
        sla.add_plan_version(
            db.session, "clockwork", "Clockwork", time_zone="UTC", hours=weekly_hours("mon-sun", "00:00", "24:00"),
            targets={"critical": (Target(1, "hours"), Target(4, "hours")),
                     "major": (Target(10, "hours"), Target(20, "hours"))},
            effective_from=date(2000, 1, 1))
        db.session.commit()


@pytest.fixture
def clients(app, make_client, rate_card, plans):
    """ACME on the clockwork plan and GLOBEX on the standard one, each with 10 incidents."""
    make_client("ACME", name="Acme Corp")
    make_client("GLOBEX", name="Globex")
    with app.app_context():
        sla.set_client_plan(db.session, client_named("ACME"), "clockwork")
        for code in ("ACME", "GLOBEX"):
            bundles.buy_bundle(db.session, client_named(code), 10, date(2026, 1, 1))
        db.session.commit()


@pytest.fixture
def manager(app):
    return signed_in(app, "account_manager")


def page(response) -> str:
    return response.get_data(as_text=True)


def text(html: str) -> str:
    """What a reader sees: tags out, entities decoded, spaces squeezed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def queue_rows(html: str) -> list[str]:
    """The queue's rows as text, in order."""
    body = html.split('<table class="queue">')[1].split("</tbody>")[0]
    return [text("<tr" + row).strip() for row in body.split("<tr")[2:]]


def post(browser, token: str, url: str, **form):
    return browser.post(url, data={**form, "csrf_token": token, "once": once(browser)})


# --- the account manager's queue ----------------------------------------------------------------


def test_the_queue_lists_open_cases_nearest_due_first_with_breached_and_due_soon_marked_in_words(
        app, clients, manager):
    with app.app_context():
        late = add_case("ACME", "Late answer", "major", NOW - timedelta(hours=11))  # respond by an hour ago
        soon = add_case("ACME", "Due soon", "critical", NOW - timedelta(minutes=30))  # respond in 30 minutes
        later = add_case("ACME", "Plenty of time", "major", NOW - timedelta(hours=1))  # respond in 9 hours
        # answered: it now chases its resolution, due in 3 hours
        answered = add_case("ACME", "Answered", "critical", NOW - timedelta(hours=1), NOW - timedelta(minutes=50))
        done = add_case("ACME", "Done", "critical", NOW - timedelta(hours=2), NOW - timedelta(hours=2))
        sla.change_status(db.session, db.session.scalar(sa.select(Case).where(Case.number == done)),
                          "in_progress", NOW - timedelta(hours=1))
        sla.change_status(db.session, db.session.scalar(sa.select(Case).where(Case.number == done)),
                          "resolved", NOW - timedelta(minutes=30), resolution="fix")
        far = add_case("GLOBEX", "Question", "minor", NOW - timedelta(minutes=1))  # 3 business days
        db.session.commit()
    browser, _ = manager

    html = page(browser.get("/cases"))
    rows = queue_rows(html)

    assert [row.split()[0] for row in rows] == [late, soon, answered, later, far]  # the resolved case is gone
    assert "Breached" in rows[0] and "respond by" in rows[0]
    assert "Due soon" in rows[1]
    assert "resolve by" in rows[2]
    assert not any(mark in row for row in rows[2:] for mark in ("Breached", "Due soon"))
    assert "Globex" in rows[4]
    assert 'href="/cases"' in page(browser.get("/clients"))  # in the navigation


# --- the case page ----------------------------------------------------------------------------


def test_the_case_page_shows_the_plan_due_times_in_the_plans_zone_and_each_targets_state(
        app, clients, manager):
    with app.app_context():
        number = add_case("GLOBEX", "ERP down", "major", FRIDAY_4PM_TORONTO,
                          datetime.fromisoformat("2026-01-12T10:00:00-05:00"))
        # a manager who works in Toronto reads the times there (each viewer reads them in their own zone)
        db.session.execute(sa.update(User).where(User.role == "account_manager").values(time_zone="America/Toronto"))
        db.session.commit()
    browser, _ = manager

    shown = text(page(browser.get(f"/cases/{number}")))

    assert "Support plan standard" in shown
    assert "Response Jan 12, 2026, 4:00 PM EST Jan 12, 2026, 10:00 AM EST met" in shown
    assert "Resolution Jan 14, 2026, 4:00 PM EST — breached" in shown  # nobody resolved it by Wednesday
    assert "Times are in America/Toronto" in shown


def test_the_status_buttons_move_a_case_along_and_a_forbidden_move_is_refused_with_a_clear_error(
        app, clients, manager):
    with app.app_context():
        number = add_case("ACME", "Printer jam", "major", NOW - timedelta(hours=1))
        db.session.commit()
    browser, token = manager

    started = post(browser, token, f"/cases/{number}/status", status="in_progress")
    refused = post(browser, token, f"/cases/{number}/status", status="closed")
    resolved = post(browser, token, f"/cases/{number}/status", status="resolved", resolution="workaround")

    assert started.status_code == 302
    assert refused.status_code == 409
    assert f"Case {number} was not changed: a case that is in progress cannot become closed" in text(page(refused))
    assert resolved.status_code == 302
    shown = text(page(browser.get(f"/cases/{number}")))
    assert "Status: resolved (workaround)" in shown
    assert "Reopen" in shown and "Close" in shown  # the moves a resolved case allows
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == number))
        assert [change.status for change in sla.status_history(db.session, case)] == ["in_progress", "resolved"]


def test_resolving_without_saying_how_names_the_resolution_and_changes_nothing(app, clients, manager):
    with app.app_context():
        number = add_case("ACME", "Printer jam", "major", NOW - timedelta(hours=1))
        db.session.commit()
    browser, token = manager
    post(browser, token, f"/cases/{number}/status", status="in_progress")

    refused = post(browser, token, f"/cases/{number}/status", status="resolved")

    assert refused.status_code == 422
    assert "resolution is one of workaround, fix" in text(page(refused))
    with app.app_context():
        assert db.session.scalar(sa.select(Case.status).where(Case.number == number)) == "in_progress"


def test_html_in_a_subject_prints_as_text_in_the_queue_and_on_the_case_page(app, clients, manager):
    with app.app_context():
        number = add_case("ACME", "<script>alert('x')</script><b>bold</b>", "major", NOW)
        db.session.commit()
    browser, _ = manager

    for html in (page(browser.get("/cases")), page(browser.get(f"/cases/{number}"))):
        assert "<script>alert" not in html and "<b>bold" not in html
        assert "&lt;script&gt;alert(" in html


# --- the client's portal ------------------------------------------------------------------------


def test_a_client_user_opens_a_case_for_its_own_organisation_and_its_clock_starts_then(app, clients):
    with app.app_context():
        theirs = add_case("GLOBEX", "Globex's own", "minor", NOW)
        db.session.commit()
    browser, token = signed_in(app, "client", client="ACME")

    opened = post(browser, token, "/portal/cases/new", subject="VPN <down>", severity="critical",
                  description="Since 9:00.\nRebooted twice.")

    assert opened.status_code == 302
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.subject == "VPN <down>"))
        assert case.client.code == "ACME" and case.description == "Since 9:00.\nRebooted twice."
        assert abs(case.opened_at - datetime.now(UTC)) < timedelta(minutes=1)
        respond_by = sla.sla_for_case(db.session, case).respond_by.astimezone(ZoneInfo(case.client.time_zone))
    assert opened.location.endswith(f"/portal/cases/{case.number}")
    shown = page(browser.get(opened.location))
    assert "VPN &lt;down&gt;" in shown and "Rebooted twice." in shown
    assert f"{respond_by:%-I:%M %p} {respond_by.tzname()}" in text(shown)  # due an hour later, in its zone
    assert case.number in page(browser.get("/portal/cases"))
    assert browser.get(f"/portal/cases/{theirs}").status_code == 404
    assert browser.get("/portal/cases/C-999999").status_code == 404


def test_opening_a_case_without_a_subject_names_the_field_and_opens_nothing(app, clients):
    browser, token = signed_in(app, "client", client="ACME")

    refused = post(browser, token, "/portal/cases/new", subject="", severity="major", description="It broke.")

    assert refused.status_code == 422
    assert 'id="subject-error"' in page(refused)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_the_portal_summary_counts_what_the_sla_report_counts(app, clients):
    with app.app_context():
        add_case("GLOBEX", "In time", "major", FRIDAY_4PM_TORONTO, datetime.fromisoformat("2026-01-12T10:00:00-05:00"))
        add_case("GLOBEX", "Late", "major", datetime.fromisoformat("2026-01-12T09:00:00-05:00"),
                 datetime.fromisoformat("2026-01-14T09:00:00-05:00"))
        critical = add_case("GLOBEX", "Down", "critical", datetime.fromisoformat("2026-01-14T10:00:00-05:00"),
                            datetime.fromisoformat("2026-01-14T10:30:00-05:00"))
        case = db.session.scalar(sa.select(Case).where(Case.number == critical))
        sla.change_status(db.session, case, "in_progress", datetime.fromisoformat("2026-01-14T10:30:00-05:00"))
        sla.change_status(db.session, case, "resolved", datetime.fromisoformat("2026-01-14T12:00:00-05:00"),
                          resolution="fix")
        add_case("GLOBEX", "February", "minor", datetime.fromisoformat("2026-02-02T10:00:00-05:00"))
        db.session.commit()
        report = sla.sla_report(db.session, client_named("GLOBEX"), "2026-01")
    browser, _ = signed_in(app, "client", client="GLOBEX")

    html = page(browser.get("/portal/service-levels?period=2026-01"))

    for levels in report.severities:
        row = text(html.split(f'<tr id="severity-{levels.severity}">')[1].split("</tr>")[0]).split()
        assert row[:6] == [levels.severity, *map(str, (levels.cases, levels.response_met, levels.response_breached,
                                                       levels.resolution_met, levels.resolution_breached))]
    major = text(html.split('<tr id="severity-major">')[1].split("</tr>")[0])
    assert major.split()[:4] == ["major", "2", "1", "1"]
    critical_row = text(html.split('<tr id="severity-critical">')[1].split("</tr>")[0])
    assert critical_row.split() == ["critical", "1", "1", "0", "1", "0", "0", "h", "30"]  # 30 minutes to respond


def test_the_portal_summary_defaults_to_this_month_and_names_a_bad_month(app, clients):
    browser, _ = signed_in(app, "client", client="GLOBEX")

    assert f"Service levels, {NOW:%Y-%m}" in page(browser.get("/portal/service-levels"))
    refused = browser.get("/portal/service-levels?period=2026-13")
    assert refused.status_code == 422
    assert "is not a month written YYYY-MM" in text(page(refused))


# --- the invoice's usage statement ---------------------------------------------------------------


def test_the_invoices_usage_statement_keeps_and_prints_the_months_service_levels(app, make_client, rate_card, plans):
    make_march_client(make_client, "MARCH")
    with app.app_context():
        session = db.session
        bill_march(session, "MARCH")  # its appointments are technician responses on one case
        issue(session)
        invoice = session.scalar(sa.select(Invoice).where(Invoice.kind == "invoice"))
        expected = service_levels(session, client_named("MARCH"), "2026-03")
        html = render_invoice_html(invoice, current_app.config)

    assert invoice.statement["service_levels"] == expected
    assert sum(line["cases"] for line in expected["severities"]) >= 1
    shown = text(html)
    assert "Service levels" in shown and "Responses met" in shown and "Median time to respond" in shown


def test_a_german_invoice_prints_the_service_levels_in_german(app, make_client, rate_card, plans):
    make_march_client(make_client, "BRAU", currency="EUR", locale="de_DE")
    with app.app_context():
        bill_march(db.session, "BRAU")
        issue(db.session)
        html = render_invoice_html(db.session.scalar(sa.select(Invoice)), current_app.config)

    shown = text(html)
    assert "Service-Level" in shown and "Reaktionen eingehalten" in shown and "Median der Reaktionszeit" in shown
    assert "Responses met" not in shown
