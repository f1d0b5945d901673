"""The month's run, one path for the API, the finance page and the CLI, and the guards around
irreversible postings: periods parsed strictly, nothing closed or issued ahead of time, no
waiver that makes a figure negative, credit notes that never credit more than the invoice.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger.cli import main
from ledger.extensions import db
from ledger.models import Client, Invoice, InvoiceDocument, TermClose
from ledger.money import Money
from ledger.services.bundles import buy_bundle
from ledger.services.support import log_technician_response, open_case
from tests.helpers import both_engines, client_named, words

MARCH = "2026-03"


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


@pytest.fixture
def month_with_a_client_that_cannot_be_invoiced(app, session, make_client, rate_card):
    """ALPHA and GAMMA bought bundles in March; YEN (in JPY, which has no rate card) has overage,
    which cannot be priced. YEN is stored as a database from before the rate-card rule would hold it."""
    make_client("ALPHA")
    make_client("GAMMA")
    session.add(Client(code="YEN", name="Yen Corp", currency="JPY", locale="ja_JP", tax_rate=Decimal(10),
                       term_start=date(2026, 1, 1), maintenance_fee_minor=0, overage_policy="bill", address=""))
    session.commit()
    buy_bundle(session, client_named(session, "ALPHA"), 10, date(2026, 3, 2))
    buy_bundle(session, client_named(session, "GAMMA"), 4, date(2026, 3, 3))
    case = open_case(session, client_named(session, "YEN"), "Server down", "major",
                     datetime(2026, 3, 4, 9, tzinfo=UTC))
    log_technician_response(session, case, datetime(2026, 3, 4, 10, tzinfo=UTC), "Sam")
    session.commit()


def archived(app) -> dict[str, str | None]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Invoice.number, InvoiceDocument.sha256)
            .outerjoin(InvoiceDocument, InvoiceDocument.invoice_id == Invoice.id).order_by(Invoice.number)).all()
        db.session.rollback()
    return dict(rows)


def issued_to(app) -> list[str]:
    with app.app_context():
        codes = db.session.scalars(sa.select(Client.code).join(Invoice, Invoice.client_id == Client.id)
                                   .order_by(Client.code)).all()
        db.session.rollback()
    return list(codes)


# --- 9.2 / 9.3: one client never stops the month; every issued invoice is archived ------------


@both_engines
def test_the_api_run_issues_everyone_else_lists_the_failure_and_archives_every_pdf(
        app, month_with_a_client_that_cannot_be_invoiced, finance):
    response = finance.post("/invoices/run", {"period": MARCH})

    assert response.status_code == 200
    body = response.get_json()
    assert len(body["issued"]) == 2 and body["skipped"] == []
    assert [(f["client"], f["code"]) for f in body["failed"]] == [("YEN", "not_found")]
    assert "JPY" in body["failed"][0]["message"]
    assert issued_to(app) == ["ALPHA", "GAMMA"]
    hashes = archived(app)
    assert sorted(hashes) == sorted(body["issued"]) and all(hashes.values())
    for number in body["issued"]:
        assert finance.get(f"/invoices/{number}").get_json()["sha256"] == hashes[number]


def test_the_finance_page_issues_everyone_else_and_lists_the_failure(
        app, month_with_a_client_that_cannot_be_invoiced, finance_page):
    finance_page.get(f"/finance/invoices?period={MARCH}")
    response = finance_page.confirm(finance_page.post("/finance/invoices/issue", {"period": MARCH}))

    assert response.status_code == 302
    page = words(finance_page.get(f"/finance/invoices?period={MARCH}"))
    assert "Issued 2 invoices" in page
    assert "Not issued for YEN: no rate card for JPY" in page
    assert issued_to(app) == ["ALPHA", "GAMMA"]
    assert all(archived(app).values())


def test_the_cli_run_issues_everyone_else_and_exits_non_zero_with_a_summary(
        app, month_with_a_client_that_cannot_be_invoiced, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("LEDGER_INVOICE_DIR", app.config["INVOICE_DIR"])

    result = CliRunner().invoke(main, ["invoices", "run", "--period", MARCH, "--workers", "1"],
                                catch_exceptions=False)

    assert result.exit_code == 1
    assert f"{MARCH}: 2 issued, 0 with nothing to bill, 1 failed" in result.stdout
    assert "not issued: YEN: no rate card for JPY" in result.stderr
    assert "1 client(s) could not be invoiced" in result.stderr
    assert issued_to(app) == ["ALPHA", "GAMMA"]
    assert all(archived(app).values())


@both_engines
def test_downloads_only_read_and_never_fail_while_others_write(app, session, make_client, rate_card, finance):
    """Right after the run, ten clients download at once beside credit notes being issued:
    every download answers 200 with the archived bytes, whose hash the invoice shows."""
    for code in ("ALPHA", "BETA"):
        make_client(code)
    for code in ("ALPHA", "BETA"):
        buy_bundle(session, client_named(session, code), 5, date(2026, 3, 2))
    session.commit()
    numbers = finance.post("/invoices/run", {"period": MARCH}).get_json()["issued"]
    token = finance.token
    downloads, writes, lock = [], [], threading.Lock()
    start = threading.Barrier(12)

    def download(number: str) -> None:
        client = app.test_client()
        start.wait(timeout=30)
        for _ in range(3):
            response = client.get(f"/api/v1/invoices/{number}/pdf", headers={"Authorization": f"Bearer {token}"})
            with lock:
                downloads.append((number, response.status_code, hashlib.sha256(response.data).hexdigest()))

    def write(number: str) -> None:
        client = app.test_client()
        start.wait(timeout=30)
        for position in (1, 1, 1):
            response = client.post(f"/api/v1/invoices/{number}/credit-notes", json={"reason": "x", "lines": [position]},
                                   headers={"Authorization": f"Bearer {token}"})
            with lock:
                writes.append(response.status_code)

    threads = [threading.Thread(target=download, args=(numbers[i % 2],)) for i in range(10)]
    threads += [threading.Thread(target=write, args=(number,)) for number in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    hashes = {n: finance.get(f"/invoices/{n}").get_json()["sha256"] for n in numbers}
    assert sorted(downloads) == sorted((n, 200, hashes[n]) for n in numbers for _ in range(15))
    assert sorted(writes) == [201, 201, 409, 409, 409, 409]


# --- 9.4: a period is YYYY-MM in ASCII digits, everywhere -----------------------------------

LOOSE_PERIODS = ["2026-١٢", "2026- 1", "2026-+1", "٢٠٢٦-03", "2026-03x"]


@pytest.mark.parametrize("period", LOOSE_PERIODS)
def test_a_loosely_written_period_is_refused_by_the_run_the_list_and_the_export(app, finance, make_client, period):
    make_client("ALPHA")

    run = finance.post("/invoices/run", {"period": period})
    listed = finance.get("/clients/ALPHA/invoices", query_string={"period": period})
    export = finance.get("/invoices/export", query_string={"period": period})

    for response in (run, listed, export):
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == "period"
    assert issued_to(app) == []


@pytest.mark.parametrize("period", LOOSE_PERIODS[:3])
def test_the_cli_refuses_a_loosely_written_period(app, database_url, tmp_path, monkeypatch, period):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))

    for args in (["invoices", "run", "--period", period], ["invoices", "export", "--period", period]):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: period: ")


# --- 9.5: nothing dated in the future closes a term -------------------------------------------


@pytest.fixture
def ended_term(session, make_client, rate_card):
    """ACME's term 2025 ended with 20 unused incidents."""
    make_client("ACME", term_start=date(2025, 1, 1))
    buy_bundle(session, client_named(session, "ACME"), 20, date(2025, 2, 1))
    session.commit()


def closes(app) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(TermClose))
        db.session.rollback()
    return count


@pytest.mark.parametrize("as_of", [lambda: today() + timedelta(days=1), lambda: date(2100, 12, 31)],
                         ids=["tomorrow", "2100"])
def test_closing_terms_as_of_a_day_after_today_is_refused_and_closes_nothing(app, ended_term, finance, as_of):
    response = finance.post("/terms/close", {"as_of": as_of().isoformat()})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "as_of"
    assert closes(app) == 0
    assert finance.post("/terms/close", {"as_of": today().isoformat()}).status_code == 200
    assert closes(app) == 1


def test_the_cli_refuses_to_close_terms_as_of_a_day_after_today(app, ended_term, database_url, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))
    tomorrow = (today() + timedelta(days=1)).isoformat()

    result = CliRunner().invoke(main, ["terms", "close", "--as-of", tomorrow], catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: as_of: ")
    assert closes(app) == 0


# --- 9.1: a client needs a rate card in its currency ----------------------------------------


def test_a_client_in_a_currency_without_a_rate_card_is_refused_naming_the_currency(app, api, rate_card):
    response = api.post("/clients", {"code": "SWISS", "name": "Swiss AG", "currency": "CHF", "locale": "de_CH",
                                     "tax_rate": "8.1", "term_start": "2026-01-01"})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "currency"
    assert "CHF" in response.get_json()["error"]["message"]
    assert api.get("/clients/SWISS").status_code == 404


# --- 9.6: a waiver never makes overage or availability negative ---------------------------------


@pytest.fixture
def overage_last_term(api, session, make_client, rate_card):
    """ACME (term from 1 Jan 2025) used 3 incidents of overage in 2025 with no bundle; returns the activity id."""
    make_client("ACME", term_start=date(2025, 1, 1))
    case = api.post("/clients/ACME/cases", {"subject": "Down", "severity": "major",
                                            "opened_at": "2025-06-01T08:00:00+00:00"}).get_json()["number"]
    activity = api.post(f"/cases/{case}/appointments", {"started_at": "2025-06-02T08:00:00+00:00",
                                                        "ended_at": "2025-06-02T09:30:00+00:00",
                                                        "technician": "Sam"}).get_json()
    assert activity["incidents_charged"] == 3
    return activity["id"]


def incidents(api, as_of: str) -> dict:
    return api.get(f"/clients/ACME/balance?as_of={as_of}").get_json()["incidents"]


def test_waiving_overage_of_an_ended_term_is_refused_with_a_pointer_to_credit_notes(api, overage_last_term):
    before = api.get("/clients/ACME/entries").get_json()["items"]

    response = api.post(f"/activities/{overage_last_term}/waive", {"reason": "vendor outage"})

    assert response.status_code == 409
    assert response.get_json()["error"]["field"] == "id"
    assert "credit note" in response.get_json()["error"]["message"]
    assert api.get("/clients/ACME/entries").get_json()["items"] == before
    now = incidents(api, today().isoformat())
    assert (now["overage"], now["available"]) == (0, 0)


def test_waiving_a_charge_drawn_from_a_closed_term_is_refused_and_posts_nothing(api, finance, make_client, rate_card):
    make_client("ACME", term_start=date(2025, 1, 1))
    api.post("/clients/ACME/bundles", {"quantity": 10, "purchased_on": "2025-02-01"})
    case = api.post("/clients/ACME/cases", {"subject": "Down", "severity": "major",
                                            "opened_at": "2025-06-01T08:00:00+00:00"}).get_json()["number"]
    activity = api.post(f"/cases/{case}/responses", {"responded_at": "2025-06-01T09:00:00+00:00",
                                                     "technician": "Sam"}).get_json()
    assert finance.post("/terms/close", {"as_of": "2025-12-31"}).status_code == 200
    before = api.get("/clients/ACME/entries").get_json()["items"]

    response = api.post(f"/activities/{activity['id']}/waive", {"reason": "vendor outage"})

    assert response.status_code == 409
    assert "credit note" in response.get_json()["error"]["message"]
    assert api.get("/clients/ACME/entries").get_json()["items"] == before
    assert incidents(api, today().isoformat())["available"] == 9


def test_waiving_overage_of_the_current_term_returns_it_and_leaves_nothing_negative(api, make_client, rate_card):
    make_client("ACME", term_start=date(today().year, 1, 1))
    opened = datetime(today().year, 1, 2, 8, tzinfo=UTC)
    case = api.post("/clients/ACME/cases", {"subject": "Down", "severity": "major",
                                            "opened_at": opened.isoformat()}).get_json()["number"]
    activity = api.post(f"/cases/{case}/responses", {"responded_at": (opened + timedelta(hours=1)).isoformat(),
                                                     "technician": "Sam"}).get_json()

    response = api.post(f"/activities/{activity['id']}/waive", {"reason": "vendor outage"})

    assert response.status_code == 201
    now = incidents(api, today().isoformat())
    assert (now["overage"], now["available"]) == (0, 0)


# --- 9.7: credit notes never credit more than the invoice charged -------------------------------


def test_three_single_line_credit_notes_credit_exactly_the_invoices_tax(app, session, make_client, rate_card, finance):
    make_client("ACME", tax_rate=Decimal("7.5"))
    for day in (2, 3, 4):
        buy_bundle(session, client_named(session, "ACME"), 1, date(2026, 3, day),
                   unit_price=Money(Decimal("33.30"), "USD"))
    session.commit()
    (number,) = finance.post("/invoices/run", {"period": MARCH}).get_json()["issued"]
    invoice = finance.get(f"/invoices/{number}").get_json()
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("99.90", "7.49", "107.39")

    notes = [finance.post(f"/invoices/{number}/credit-notes", {"reason": "refund", "lines": [position]}).get_json()
             for position in (1, 2, 3)]

    assert [(n["subtotal"], n["tax"], n["total"]) for n in notes] == [
        ("-33.30", "-2.50", "-35.80"), ("-33.30", "-2.50", "-35.80"), ("-33.30", "-2.49", "-35.79")]
    assert sum(Decimal(n["tax"]) for n in notes) == Decimal("-7.49")
    assert sum(Decimal(n["total"]) for n in notes) == Decimal("-107.39")
    assert all(n["sha256"] for n in notes)  # archived when issued: a download only reads
