"""`ledger verify`: lots against their entries, archived PDFs against their SHA-256, gapless
number series, each source billed once; exit 1 with a report naming each mismatch."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.pool import NullPool

from ledger.cli import main as ledger_command
from ledger.extensions import db
from ledger.models import Invoice, InvoiceDocument
from tests.helpers import add_client, bill_a_month, books_findings, both_engines, built_once, staff_api

pytestmark = pytest.mark.unsound_books


def ledger(app, *args: str):
    """Run ``ledger ARGS`` on ``app``'s database and archive."""
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], "LEDGER_SECRET_KEY": "test-secret"}
    return CliRunner().invoke(ledger_command, list(args), env=env, catch_exceptions=False)


@built_once(after=("rate_card",))
def billed(app, after):
    """February billed and archived for ACME and BETA."""
    bill_a_month(app, staff_api(app), functools.partial(add_client, app))


@pytest.fixture
def raw(database_url):
    """A plain engine on the test database: the tampering below goes around the app."""
    engine = sa.create_engine(database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.mark.slow  # loads the whole demo
def test_verify_passes_on_the_demo(app):
    loaded = ledger(app, "demo", "--today", "2026-11-20")
    assert loaded.exit_code == 0, loaded.output

    checked = ledger(app, "verify")

    assert checked.exit_code == 0, checked.output
    assert "the books are sound" in checked.output


@both_engines
def test_verify_passes_on_a_billed_month(app, billed):
    assert books_findings(app) == []
    assert ledger(app, "verify").exit_code == 0


@both_engines
def test_verify_names_a_lot_whose_remaining_drifted_from_its_entries(app, billed, raw):
    with raw.begin() as connection:  # lots are not append-only: remaining is a cache the app updates
        lot = connection.execute(sa.text("SELECT id FROM lots WHERE remaining > 0 ORDER BY id")).scalar()
        connection.execute(sa.text("UPDATE lots SET remaining = remaining - 1 WHERE id = :id"), {"id": lot})

    checked = ledger(app, "verify")

    assert checked.exit_code == 1
    assert f"lots: lot {lot}: remaining is" in checked.output
    assert "but its entries add up to" in checked.output


def test_verify_names_an_archived_pdf_with_a_flipped_byte(app, billed):
    with app.app_context():
        number, relative = db.session.execute(
            sa.select(Invoice.number, InvoiceDocument.path)
            .join(Invoice, Invoice.id == InvoiceDocument.invoice_id).order_by(Invoice.number)).first()
    pdf = Path(app.config["INVOICE_DIR"]) / relative
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))

    checked = ledger(app, "verify")

    assert checked.exit_code == 1
    assert f"documents: {number}: {pdf} has SHA-256" in checked.output
    assert "not the recorded" in checked.output


def test_verify_names_a_missing_pdf(app, billed):
    for pdf in Path(app.config["INVOICE_DIR"]).rglob("INV-2026-00002.pdf"):
        pdf.unlink()

    checked = ledger(app, "verify")

    assert checked.exit_code == 1
    assert "documents: INV-2026-00002:" in checked.output and "is missing" in checked.output


@both_engines
def test_verify_names_a_gap_in_the_invoice_numbers(app, billed, raw):
    with raw.begin() as connection:  # an invoice inserted out of turn: numbers 3 to 8 never issued
        columns = [c["name"] for c in sa.inspect(connection).get_columns("invoices") if c["name"] != "id"]
        copied = ", ".join(columns)
        chosen = copied.replace("number", "'INV-2026-00009'").replace("period", "'2025-06'")
        connection.execute(sa.text(f"INSERT INTO invoices ({copied}) SELECT {chosen} FROM invoices "
                                   "WHERE number = 'INV-2026-00001'"))

    checked = ledger(app, "verify")

    assert checked.exit_code == 1
    assert "numbers: INV-2026: gap: 3–8 missing (last is 9)" in checked.output


def test_the_report_lists_every_mismatch_at_once(app, billed, raw):
    with raw.begin() as connection:
        connection.execute(sa.text("UPDATE lots SET remaining = remaining - 1 WHERE remaining > 0"))
        connection.execute(sa.text("UPDATE cases SET number = 'C-000042' WHERE number = 'C-000002'"))
    checks = {finding.check for finding in books_findings(app)}
    assert checks == {"lots", "numbers"}
