"""Issued invoices a vendor can send: the month's run archives each as PDF/A-3b with its EN 16931 XML inside.

Three clients (en_US with sales tax, de_DE with 19 % VAT, fr_CA with GST and QST) are
invoiced through the one issuing path, ``batch.run``, and credited; every archived PDF holds
a Factur-X XML that passes the official XSD and Schematron, as does its UBL twin.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from ledger import batch
from ledger.extensions import db
from ledger.models import Client, Counter, Invoice
from ledger.services import archive, bundles, exports
from ledger.services.einvoicing import invoice_taxes, invoice_ubl, invoice_xml
from ledger.services.invoicing import issue_credit_note, issue_invoice
from ledger.services.vendor import VendorIncomplete, set_client_billing, update_vendor
from tests.helpers import CII_SCHEMATRON, CII_XSD, UBL_SCHEMATRON, UBL_XSD, VENDOR, xsd_errors

#: renders every document and runs the EN 16931 Schematron (Saxon) over each: left out of the fast loop
pytestmark = pytest.mark.slow

PERIOD, ISSUED_ON = "2026-02", date(2026, 3, 2)
CLIENTS = {
    "ACME": dict(name="Acme Corp.", currency="USD", locale="en_US", address="100 Main Street\nAustin, TX 78701",
                 billing=dict(country="US", vat_id="12-3456789", billing_emails=["ap@acme.example"],
                              taxes=[{"name": "Sales tax", "rate": "8.25"}])),
    "BRAU": dict(name="Brauerei Adler GmbH", currency="EUR", locale="de_DE",
                 address="Hopfenstraße 7\n80331 München", billing=dict(
                     country="DE", vat_id="DE129273398", billing_emails=["rechnung@brau.example"],
                     payment_terms_days=14, purchase_order="PO-4711", taxes=[{"name": "USt.", "rate": "19"}])),
    "NORD": dict(name="Nordique Logistique ltée", currency="CAD", locale="fr_CA",
                 address="455 rue du Port\nMontréal (Québec) H2Y 1A1", billing=dict(
                     country="CA", vat_id="123456782RT0001", billing_emails=["comptes@nord.example"],
                     taxes=[{"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}])),
}


def make_billed_client(app, make_client, code: str, quantity: int = 7) -> None:
    """A client with its billing details and a bundle bought in the billed month."""
    spec = CLIENTS[code]
    make_client(code, name=spec["name"], currency=spec["currency"], locale=spec["locale"], address=spec["address"])
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == code))
        set_client_billing(db.session, client, **spec["billing"])
        bundles.buy_bundle(db.session, client, quantity, date(2026, 2, 3))
        bundles.buy_bundle(db.session, client, 3, date(2026, 2, 17))
        db.session.commit()


def invoice_of(code: str, kind: str = "invoice") -> Invoice:
    return db.session.scalar(select(Invoice).join(Client).where(Client.code == code, Invoice.kind == kind)
                             .order_by(Invoice.id))


def archived_pdf(app, invoice: Invoice) -> bytes:
    return archive.read_pdf(db.session, invoice, Path(app.config["INVOICE_DIR"]))


def embedded_xml(pdf: bytes) -> bytes:
    (xml,) = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"]
    return xml


def pdf_a_part(pdf: bytes) -> str:
    """The PDF/A part and conformance its XMP metadata claims, e.g. ``3B``."""
    xmp = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    found = re.search(r'pdfaid:part(?:="|>)(\d)', xmp), re.search(r'pdfaid:conformance(?:="|>)(\w)', xmp)
    return "".join(match.group(1) for match in found if match)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def issued(app, make_client):
    """February invoiced for ACME, BRAU and NORD through the month's run; each credited once."""
    for code in CLIENTS:
        make_billed_client(app, make_client, code)
    result = batch.run(app, PERIOD, ISSUED_ON, workers=1)
    assert (len(result.issued), result.failed) == (3, [])
    with app.app_context():
        for code in CLIENTS:
            issue_credit_note(db.session, invoice_of(code), "Bundle bought twice", [2], ISSUED_ON,
                              archive_config=app.config)
        db.session.commit()
    return app


def test_every_archived_invoice_and_credit_note_embeds_an_e_invoice_that_passes_xsd_and_schematron(
        issued, schematron):
    with issued.app_context():
        documents = db.session.scalars(select(Invoice).order_by(Invoice.id)).all()
        assert [d.kind for d in documents].count("credit_note") == 3 and len(documents) == 6
        for document in documents:
            pdf = archived_pdf(issued, document)
            xml = embedded_xml(pdf)
            assert xml == invoice_xml(document), document.number
            assert pdf_a_part(pdf) == "3B", document.number
            assert xsd_errors(xml, CII_XSD) == [], document.number
            assert schematron(xml, CII_SCHEMATRON) == [], document.number
            ubl = invoice_ubl(document)
            assert xsd_errors(ubl, UBL_XSD[document.kind]) == [], document.number
            assert schematron(ubl, UBL_SCHEMATRON) == [], document.number


def test_a_tampered_copy_of_an_embedded_xml_fails_the_same_check(issued, schematron):
    with issued.app_context():
        xml = embedded_xml(archived_pdf(issued, invoice_of("BRAU")))
    amount = xml.split(b"<ram:GrandTotalAmount>")[1].split(b"</ram:GrandTotalAmount>")[0]
    tampered = xml.replace(b"<ram:GrandTotalAmount>" + amount,
                           b"<ram:GrandTotalAmount>" + str(Decimal(amount.decode()) + 1).encode())

    assert any(failure.startswith("BR-CO-15") for failure in schematron(tampered, CII_SCHEMATRON))


def test_the_german_invoice_names_both_vat_ids_the_iban_and_the_due_date_after_the_clients_terms(issued):
    with issued.app_context():
        invoice = invoice_of("BRAU")
        text = pdf_text(archived_pdf(issued, invoice))
        assert invoice.due_on == date(2026, 3, 16)  # 14 days' terms

    for printed in (VENDOR["vat_id"], "DE129273398", VENDOR["iban"], VENDOR["bic"], VENDOR["legal_name"],
                    "PO-4711", "USt. 19 %"):
        assert printed in text


def test_the_quebec_invoice_shows_gst_and_qst_on_their_own_lines_each_rounded_half_up(issued):
    with issued.app_context():
        invoice = invoice_of("NORD")
        text = pdf_text(archived_pdf(issued, invoice))
        subtotal = Decimal(invoice.subtotal_minor) / 100
        taxes = invoice_taxes(invoice)

    expected = [(name, (subtotal * rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP))
                for name, rate in (("GST", Decimal(5)), ("QST", Decimal("9.975")))]
    assert [(t.name, t.amount) for t in taxes] == expected
    assert invoice.tax_minor == sum(amount for _, amount in expected) * 100
    assert invoice.total_minor == invoice.subtotal_minor + invoice.tax_minor
    lines = text.splitlines()
    assert any(line.startswith("GST 5 %") for line in lines), text
    assert any(line.startswith("QST 9,975 %") for line in lines), text


def test_credit_notes_never_credit_more_of_a_tax_component_than_the_invoice_charged(issued):
    with issued.app_context():
        invoice = invoice_of("NORD")
        first = invoice_of("NORD", "credit_note")
        rest = issue_credit_note(db.session, invoice, "Cancelled", None, ISSUED_ON, archive_config=issued.config)
        charged = [t.amount for t in invoice_taxes(invoice)]
        credited = [-a - b for a, b in zip((t.amount for t in invoice_taxes(first)),
                                           (t.amount for t in invoice_taxes(rest)))]
        assert credited == charged
        assert [t.name for t in invoice_taxes(rest)] == ["GST", "QST"]
        assert first.total_minor + rest.total_minor == -invoice.total_minor


@pytest.mark.incomplete_vendor
def test_without_a_complete_vendor_profile_the_run_is_refused_and_nothing_is_issued(app, make_client):
    make_billed_client(app, make_client, "BRAU")
    with app.app_context():
        update_vendor(db.session, legal_name="Support Ledger GmbH", country="DE")
        db.session.commit()

    with pytest.raises(VendorIncomplete) as refused:
        batch.run(app, PERIOD, ISSUED_ON, workers=1)

    assert refused.value.status == 409 and refused.value.code == "vendor_incomplete"
    assert refused.value.missing == ["address", "vat_id", "iban"]
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == "BRAU"))
        with pytest.raises(VendorIncomplete):
            issue_invoice(db.session, client, PERIOD, ISSUED_ON)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
        assert db.session.scalar(select(func.count()).select_from(Counter)) == 0


def test_a_credit_note_is_refused_while_the_vendor_profile_is_incomplete(issued):
    with issued.app_context():
        update_vendor(db.session, iban="", bank_account="")
        with pytest.raises(VendorIncomplete, match="iban"):
            issue_credit_note(db.session, invoice_of("ACME"), "Cancelled", None, ISSUED_ON)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 6


def test_an_issued_invoice_keeps_what_it_printed_when_the_client_and_vendor_change(app, make_client):
    make_billed_client(app, make_client, "BRAU")
    batch.run(app, PERIOD, ISSUED_ON, workers=1)
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == "BRAU"))
        set_client_billing(db.session, client, vat_id="DE136695976", payment_terms_days=30,
                           taxes=[{"name": "MwSt.", "rate": "7"}])
        client.name = "Adler Bräu AG"
        update_vendor(db.session, legal_name="Ledger Support AG")
        bundles.buy_bundle(db.session, client, 4, date(2026, 3, 3))
        db.session.commit()
        february = invoice_of("BRAU")
        kept = invoice_xml(february)

        assert kept == embedded_xml(archived_pdf(app, february))
        assert b"DE129273398" in kept and b"Brauerei Adler GmbH" in kept and b"Support Ledger GmbH" in kept
        assert [(t.name, t.rate) for t in invoice_taxes(february)] == [("USt.", Decimal(19))]
    batch.run(app, "2026-03", date(2026, 4, 1), workers=1)
    with app.app_context():
        march = db.session.scalar(select(Invoice).where(Invoice.period == "2026-03"))
        text = pdf_text(archived_pdf(app, march))
        assert "Adler Bräu AG" in text and "DE136695976" in text and "Ledger Support AG" in text
        assert [(t.name, t.rate) for t in invoice_taxes(march)] == [("MwSt.", Decimal(7))]
        assert march.due_on == date(2026, 5, 1)


def test_the_export_gives_each_line_its_share_of_the_tax_with_the_clients_name_tax_id_and_dates(issued):
    with issued.app_context():
        rows = list(csv.DictReader(io.StringIO(exports.export_csv(db.session, PERIOD))))
        due = {invoice.number: invoice.due_on.isoformat() for invoice in db.session.scalars(select(Invoice))}

    by_document: dict[str, list[dict]] = {}
    for row in rows:
        by_document.setdefault(row["number"], []).append(row)
    assert len(by_document) == 6 and len(rows) == 9  # three invoices of two lines, three one-line credits
    for number, document_rows in by_document.items():
        assert sum(Decimal(row["line_tax"]) for row in document_rows) == Decimal(document_rows[0]["tax"]), number
        assert {(row["issue_date"], row["due_date"]) for row in document_rows} == {(ISSUED_ON.isoformat(),
                                                                                   due[number])}
    brau = next(row for row in rows if row["client"] == "BRAU" and row["kind"] == "invoice")
    assert (brau["client_name"], brau["client_tax_id"]) == ("Brauerei Adler GmbH", "DE129273398")
