"""Monthly invoices: what a month bills, in what order, at which prices, with which tax.

SPEC.md: each client with anything billable gets one invoice a month: bundle purchases,
accepted quotes (with discount lines), the maintenance fee when the term renews that
month, incident overage, professional-service overage, then tax at the client's rate.
Numbers are sequential without gaps, given only when an invoice is issued; an issued
invoice never changes; running a month twice issues nothing new.

``bill_march`` (tests/helpers.py) builds one March whose every line is worked out by hand in ``MARCH_LINES``;
the PDF and API tests reuse it.
"""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ledger import batch
from ledger.billing import QuoteLineRequest
from ledger.errors import describe
from ledger.extensions import db
from ledger.models import Client, Invoice, InvoiceLine
from ledger.money import Money
from ledger.services.bundles import buy_bundle
from ledger.services.invoicing import compose
from ledger.services.quotes import accept_quote, create_quote, send_quote
from ledger.services.ratecards import create_rate_card
from ledger.services.support import log_appointment, log_helpdesk_answer, log_technician_response, open_case
from ledger.services.work import log_work
from tests.helpers import (
    MARCH,
    MARCH_TAXES,
    RUN_DAY,
    at,
    bill_march,
    both_engines,
    client_named,
    issue,
    make_march_client,
)

#: (kind, description, quantity, unit price, amount) of the March invoice, worked out by hand
MARCH_LINES = [
    ("bundle", "Service & Support Incidents: bundle of 10, purchased 2026-03-02", "10", "200.00", "2000.00"),
    ("quote", "Project Coordinator / Business Analyst: 12.25 hours (quote Q-2026-00001)", "12.25",
     "150.00", "1837.50"),
    ("quote", "Programmer Analyst / Developer: 5 days (quote Q-2026-00001)", "5", "1000.00", "5000.00"),
    ("quote", "Volume discount 5 % (quote Q-2026-00001)", "1", "-341.88", "-341.88"),
    ("maintenance", "Annual software maintenance, 2026-03-01 to 2027-02-28", "1", "1200.00", "1200.00"),
    ("incident_overage", "Incident overage: 2 beyond the balance", "2", "250.00", "500.00"),
    ("hours_overage", "Project Coordinator / Business Analyst: 1 h beyond prepaid hours", "1", "150.00",
     "150.00"),
    ("hours_overage", "Implementation Specialist / Consultant: 1 h 45 min beyond prepaid hours", "1.75",
     "125.00", "218.75"),
]
MARCH_SUBTOTAL = "10564.37"


def money(minor: int, currency: str) -> str:
    return str(Money.from_minor(minor, currency))


def lines_of(invoice: Invoice) -> list[tuple[str, str, str, str, str]]:
    """The invoice's lines as printed: kind, description, quantity, unit price, amount."""
    return [
        (line.kind, line.description, format(line.quantity.normalize(), "f"),
         money(line.unit_price_minor, invoice.currency), money(line.amount_minor, invoice.currency))
        for line in invoice.lines
    ]


def totals_of(invoice: Invoice) -> tuple[str, str, str]:
    return tuple(money(m, invoice.currency) for m in (invoice.subtotal_minor, invoice.tax_minor,
                                                      invoice.total_minor))


def invoices_of(session, code: str) -> list[Invoice]:
    client = client_named(session, code)
    return list(session.scalars(sa.select(Invoice).where(Invoice.client_id == client.id)
                                .order_by(Invoice.id)))


def all_numbers(session) -> list[str]:
    return sorted(session.scalars(sa.select(Invoice.number)))


# --- what a month bills ---------------------------------------------------------------


@pytest.mark.parametrize(("currency", "locale", "rate", "tax", "total"), MARCH_TAXES,
                         ids=[row[0] for row in MARCH_TAXES])
def test_march_bills_bundle_quote_with_discount_maintenance_and_overage_then_tax(
    session, make_client, rate_card, currency, locale, rate, tax, total
):
    make_march_client(make_client, "ACME", currency, locale, rate)
    bill_march(session, "ACME")

    numbers, skipped = issue(session)

    assert numbers == ["INV-2026-00001"] and skipped == []
    (invoice,) = invoices_of(session, "ACME")
    assert (invoice.kind, invoice.period, invoice.currency) == ("invoice", MARCH, currency)
    assert lines_of(invoice) == MARCH_LINES
    assert totals_of(invoice) == (MARCH_SUBTOTAL, tax, total)
    assert (invoice.issued_on, invoice.due_on) == (RUN_DAY, date(2026, 5, 1))


#: (bundle prices, tax rate, tax): half-up at the cent, on the subtotal (not line by line)
TAX_CASES = [
    (["0.10"], "25", "0.03"),           # 0.025: half-up, where half-even would give 0.02
    (["1.00"], "12.5", "0.13"),         # 0.125
    (["0.30"], "8.25", "0.02"),         # 0.02475 rounds down
    (["10.10"], "7.5", "0.76"),         # 0.7575
    (["0.10", "0.10"], "25", "0.05"),   # on the subtotal 0.20; line by line would be 0.06
    (["999.99"], "0", "0.00"),
]


@pytest.mark.parametrize(("prices", "rate", "tax"), TAX_CASES,
                         ids=[f"{'+'.join(p)} at {r} %" for p, r, _ in TAX_CASES])
def test_tax_is_the_clients_rate_on_the_subtotal_rounded_half_up_at_the_cent(
    session, make_client, rate_card, prices, rate, tax
):
    make_client("TAXED", tax_rate=Decimal(rate))
    client = client_named(session, "TAXED")
    for day, price in enumerate(prices, start=2):
        buy_bundle(session, client, 1, date(2026, 3, day), unit_price=Money(Decimal(price), "USD"))
    session.commit()

    issue(session)

    (invoice,) = invoices_of(session, "TAXED")
    subtotal = sum((Decimal(p) for p in prices), Decimal(0))
    assert totals_of(invoice) == (f"{subtotal:.2f}", tax, f"{subtotal + Decimal(tax):.2f}")


def test_the_maintenance_fee_is_billed_only_in_the_month_the_term_renews(session, make_client):
    make_client("YEARLY", term_start=date(2024, 6, 15), maintenance_fee="500.00")

    for year, month in [(2026, m) for m in range(1, 13)] + [(2027, m) for m in range(1, 8)]:
        issue(session, f"{year}-{month:02d}", today=date(2027, 8, 1))

    invoices = invoices_of(session, "YEARLY")
    assert [(i.period, lines_of(i)) for i in invoices] == [
        ("2026-06", [("maintenance", "Annual software maintenance, 2026-06-15 to 2027-06-14", "1",
                      "500.00", "500.00")]),
        ("2027-06", [("maintenance", "Annual software maintenance, 2027-06-15 to 2028-06-14", "1",
                      "500.00", "500.00")]),
    ]


def test_a_client_without_a_maintenance_fee_gets_no_maintenance_line(session, make_client):
    make_client("NOFEE", term_start=date(2025, 3, 1))

    numbers, skipped = issue(session)

    assert (numbers, skipped) == ([], ["NOFEE"])


def test_incident_overage_is_billed_at_the_overage_price_of_the_card_in_force_that_day(
    session, make_client, rate_card
):
    make_client("OVER")
    create_rate_card(session, "USD", date(2026, 3, 16), overage_price=Decimal("260.00"))
    client = client_named(session, "OVER")
    case = open_case(session, client, "Printer on fire", "major", at(2, 9))
    log_technician_response(session, case, at(2, 10), "Sam")              # 1 on the old card
    log_appointment(session, case, at(10, 14), at(10, 15, 1), "Sam")       # 3 on the old card
    log_appointment(session, case, at(20, 14), at(20, 14, 30), "Sam")      # 2 on the new card
    session.commit()

    issue(session)

    (invoice,) = invoices_of(session, "OVER")
    assert lines_of(invoice) == [
        ("incident_overage", "Incident overage: 4 beyond the balance", "4", "250.00", "1000.00"),
        ("incident_overage", "Incident overage: 2 beyond the balance", "2", "260.00", "520.00"),
    ]
    assert totals_of(invoice) == ("1520.00", "152.00", "1672.00")


def test_work_within_prepaid_hours_and_charges_within_the_bundle_add_no_line(
    session, make_client, rate_card
):
    make_client("COVERED")
    bill_all_of_february(session, "COVERED")
    client = client_named(session, "COVERED")
    case = open_case(session, client, "Slow VPN", "minor", at(3, 9))
    log_appointment(session, case, at(3, 10), at(3, 11), "Sam")
    log_work(session, client, "analyst", 60, date(2026, 3, 4), "Workshop")
    session.commit()

    numbers, skipped = issue(session)

    assert (numbers, skipped) == ([], ["COVERED"])


def bill_all_of_february(session, code: str) -> None:
    """A bundle of 10 and 8 prepaid analyst hours, bought and invoiced in February."""
    client = client_named(session, code)
    buy_bundle(session, client, 10, date(2026, 2, 2))
    quote = create_quote(session, client, [QuoteLineRequest("analyst", "hour", Decimal(8))],
                         valid_until=date(2026, 2, 28), today=date(2026, 2, 3))
    send_quote(session, quote, date(2026, 2, 3))
    accept_quote(session, quote, date(2026, 2, 3))
    session.commit()
    numbers, _ = issue(session, "2026-02", today=date(2026, 3, 1))
    assert len(numbers) == 1


# --- nothing billable, nothing twice --------------------------------------------------


def test_a_client_with_nothing_billable_is_skipped_and_uses_no_number(session, make_client, rate_card):
    make_client("A-QUIET")
    make_client("B-BUYER")
    make_client("C-FREE")
    quiet_case = open_case(session, client_named(session, "C-FREE"), "How do I?", "minor", at(2, 9))
    log_helpdesk_answer(session, quiet_case, at(2, 9, 5), "Dana")  # logged, charges 0
    buy_bundle(session, client_named(session, "B-BUYER"), 5, date(2026, 3, 2))
    session.commit()

    numbers, skipped = issue(session)

    assert numbers == ["INV-2026-00001"]
    assert skipped == ["A-QUIET", "C-FREE"]
    assert invoices_of(session, "A-QUIET") == [] and invoices_of(session, "C-FREE") == []
    assert [i.number for i in invoices_of(session, "B-BUYER")] == ["INV-2026-00001"]


def test_running_a_month_twice_issues_nothing_new(session, make_client, rate_card):
    make_march_client(make_client, "ONE")
    make_march_client(make_client, "TWO")
    bill_march(session, "ONE")
    buy_bundle(session, client_named(session, "TWO"), 3, date(2026, 3, 20))
    session.commit()
    first = issue(session)
    before = {i.number: (lines_of(i), totals_of(i)) for i in session.scalars(sa.select(Invoice))}

    again = issue(session)

    assert first == (["INV-2026-00001", "INV-2026-00002"], [])
    assert again == ([], ["ONE", "TWO"])
    assert {i.number: (lines_of(i), totals_of(i)) for i in session.scalars(sa.select(Invoice))} == before


def test_a_charge_posted_late_for_an_invoiced_month_is_billed_the_next_month_once(
    session, make_client, rate_card
):
    make_client("LATE")
    client = client_named(session, "LATE")
    case = open_case(session, client, "Outage", "critical", at(2, 9))
    log_appointment(session, case, at(2, 10), at(2, 11), "Sam")  # 2 incidents of overage
    session.commit()
    assert issue(session) == (["INV-2026-00001"], [])

    # a technician's appointment of 20 March, logged only after March was invoiced
    log_appointment(session, case, at(20, 10), at(20, 11, 30), "Sam")  # 3 more
    session.commit()
    march_again = issue(session, MARCH, date(2026, 4, 2))
    april = issue(session, "2026-04", date(2026, 5, 1))
    may = issue(session, "2026-05", date(2026, 6, 1))

    assert march_again == ([], ["LATE"])
    assert april == (["INV-2026-00002"], [])
    assert may == ([], ["LATE"])
    march_invoice, april_invoice = invoices_of(session, "LATE")
    assert lines_of(march_invoice) == [
        ("incident_overage", "Incident overage: 2 beyond the balance", "2", "250.00", "500.00")]
    assert (april_invoice.period, lines_of(april_invoice)) == ("2026-04", [
        ("incident_overage", "Incident overage: 3 beyond the balance", "3", "250.00", "750.00")])


@pytest.mark.parametrize(("period", "today"), [
    ("2026-05", date(2026, 4, 30)),   # has not begun
    ("2026-13", RUN_DAY),
    ("2026-3", RUN_DAY),
    ("March", RUN_DAY),
    ("", RUN_DAY),
])
def test_a_month_that_is_malformed_or_has_not_begun_is_refused(session, make_client, period, today):
    make_client("EARLY", maintenance_fee="100.00", term_start=date(2025, 5, 1))

    with pytest.raises(Exception) as refused:
        issue(session, period, today)

    assert (describe(refused.value).status, describe(refused.value).field) == (422, "period")
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_compose_is_a_preview_that_issues_nothing(session, make_client, rate_card):
    make_march_client(make_client, "PREVIEW")
    bill_march(session, "PREVIEW")

    draft = compose(session, client_named(session, "PREVIEW"), MARCH)
    session.commit()

    assert [(line.kind, line.description) for line in draft.lines] == [(k, d) for k, d, *_ in MARCH_LINES]
    assert session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    assert issue(session)[0] == ["INV-2026-00001"]


# --- concurrent batches -------------------------------------------------------------


CLIENTS = [f"CO{n:02d}" for n in range(1, 13)]


@both_engines
def test_two_batches_at_once_give_each_client_one_invoice_and_gapless_numbers(app, session, make_client,
                                                                             rate_card):
    for code in CLIENTS:
        make_client(code)
    for code in CLIENTS:
        buy_bundle(session, client_named(session, code), 5, date(2026, 3, 2))
    session.commit()
    session.close()
    start = threading.Barrier(2)
    results, failures = [], []

    def run_batch():
        try:
            start.wait(timeout=30)
            results.append(batch.issue(app, MARCH, RUN_DAY))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run_batch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    issued = sorted(number for numbers, _ in results for number in numbers)
    assert issued == [f"INV-2026-{n:05d}" for n in range(1, len(CLIENTS) + 1)]
    rows = session.execute(sa.select(Client.code, sa.func.count(Invoice.id))
                           .join(Invoice, Invoice.client_id == Client.id).group_by(Client.code)).all()
    assert dict(rows) == dict.fromkeys(CLIENTS, 1)
    assert all_numbers(session) == issued


# --- an issued invoice never changes --------------------------------------------------


@pytest.fixture
def raw_engine(database_url):
    """A plain engine on the test database, outside the app; a statement waits at most 10 s."""
    url = sa.engine.make_url(database_url)
    options = {"options": "-c lock_timeout=10000"} if url.get_backend_name() == "postgresql" else {}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=options)
    yield engine
    engine.dispose()


def stored(engine) -> dict[str, list[tuple]]:
    """Every invoice, line and billed source as read on a new connection."""
    queries = {
        "invoices": "SELECT id, number, subtotal_minor, tax_minor, total_minor, period FROM invoices",
        "invoice_lines": "SELECT id, invoice_id, description, amount_minor FROM invoice_lines",
        "invoice_sources": "SELECT id, invoice_id, key FROM invoice_sources",
    }
    with engine.connect() as connection:
        return {table: connection.execute(sa.text(f"{sql} ORDER BY id")).all()
                for table, sql in queries.items()}


@both_engines
@pytest.mark.parametrize("statement", [
    "UPDATE invoices SET total_minor = 0, subtotal_minor = 0, tax_minor = 0",
    "DELETE FROM invoices",
    "UPDATE invoice_lines SET amount_minor = 1, description = 'edited afterwards'",
    "DELETE FROM invoice_lines",
    "DELETE FROM invoice_sources",  # would let the same bundle be billed again
])
def test_the_database_refuses_to_change_or_remove_an_issued_invoice(session, make_client, rate_card,
                                                                    raw_engine, statement):
    make_march_client(make_client, "FIXED")
    buy_bundle(session, client_named(session, "FIXED"), 10, date(2026, 3, 2))
    session.commit()
    issue(session)
    session.close()
    before = stored(raw_engine)
    assert before["invoices"] and before["invoice_lines"] and before["invoice_sources"]

    with pytest.raises(sa.exc.DatabaseError, match="append-only"), raw_engine.begin() as connection:
        connection.execute(sa.text(statement))

    assert stored(raw_engine) == before


@both_engines
def test_changing_an_issued_invoice_through_the_orm_fails_and_changes_nothing(session, make_client,
                                                                             rate_card, raw_engine):
    make_march_client(make_client, "ORM")
    bill_march(session, "ORM")
    issue(session)
    before = stored(raw_engine)
    (invoice,) = invoices_of(session, "ORM")

    invoice.lines[0].amount_minor += 100
    invoice.subtotal_minor += 100
    invoice.total_minor += 100
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.commit()
    session.rollback()

    assert stored(raw_engine) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InvoiceLine)) == len(MARCH_LINES)
