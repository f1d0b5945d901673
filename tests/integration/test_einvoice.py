"""Every invoice and credit note is an EN 16931 e-invoice: CII and UBL pass the official XSD and Schematron.

The checks (official artefacts, Saxon-HE) live in tests/helpers.py; ``schematron`` is a fixture
of tests/conftest.py.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader

from ledger.billing import TaxComponent, compute_taxes
from ledger.einvoice import Document, Line, Party, Payment, Tax, cii_xml, ubl_xml
from ledger.pdf import render_facturx_pdf
from tests.helpers import CII_SCHEMATRON, CII_XSD, UBL_SCHEMATRON, UBL_XSD, xsd_errors

SELLER = Party("Support Ledger GmbH", ("Friedrichstraße 123",), "DE", city="Berlin", postcode="10117",
               vat_id="DE136695976", registration="HRB 12345 B", email="billing@vendor.example",
               phone="+49 30 1234567")
PAYMENT = Payment(iban="DE89370400440532013000", bic="COBADEFFXXX")
BUYERS = {
    "en_US": Party("Acme Corp.", ("100 Main Street", "Suite 5"), "US", city="Austin", postcode="78701",
                   email="ap@acme.example"),
    "de_DE": Party("Müller & Söhne AG", ("Hauptstraße 5", "Gebäude B", "3. OG"), "DE", city="München",
                   postcode="80331", vat_id="DE129273398", email="rechnung@mueller.example"),
    "fr_CA": Party("Érable <Conseil> inc.", ("1000 rue Sherbrooke Ouest",), "CA", city="Montréal",
                   postcode="H3A 3G4", vat_id="123456782RT0001", email="comptes@erable.example"),
    "reverse_charge": Party("Dupont SARL", ("12 rue de la Paix",), "FR", city="Paris", postcode="75002",
                            vat_id="FR40303265045", email="factures@dupont.example"),
}
TAXES = {
    "en_US": [TaxComponent("Sales tax", Decimal("8.25"))],
    "de_DE": [TaxComponent("MwSt.", Decimal(19))],
    "fr_CA": [TaxComponent("GST", Decimal(5)), TaxComponent("QST", Decimal("9.975"))],
    "reverse_charge": [TaxComponent("VAT", Decimal(0))],
}
CURRENCIES = {"en_US": "USD", "de_DE": "EUR", "fr_CA": "CAD", "reverse_charge": "EUR"}


def invoice(client: str, kind: str = "invoice", sign: int = 1) -> Document:
    """An invoice (or, with sign -1, a credit note) for one of the test clients, totals from the rules."""
    lines = (
        Line(1, "Service & Support Incidents: bundle of 10", Decimal(10), sign * Decimal("150.00"),
             sign * Decimal("1500.00")),
        Line(2, "Implementation Specialist / Consultant: 1 h 15 min beyond prepaid hours", Decimal("1.25"),
             sign * Decimal("125.00"), sign * Decimal("156.25"), "HUR"),
        Line(3, "Incident overage: 3 beyond the balance", Decimal(3), sign * Decimal("165.55"),
             sign * Decimal("496.65")),
    )
    subtotal = sum((line.net for line in lines), Decimal(0))
    reverse = client == "reverse_charge"
    taxes = tuple(Tax(t.name, t.rate, t.amount, reverse_charge=reverse)
                  for t in compute_taxes(subtotal, TAXES[client]))
    tax = sum((t.amount for t in taxes), Decimal(0))
    number = "CN-2026-00001" if kind == "credit_note" else "INV-2026-00042"
    return Document(
        number=number, kind=kind, issue_date=date(2026, 11, 2), due_date=date(2026, 12, 2),
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), currency=CURRENCIES[client],
        seller=SELLER, buyer=BUYERS[client], lines=lines, taxes=taxes, subtotal=subtotal, tax_total=tax,
        total=subtotal + tax, payment=replace(PAYMENT, reference=number),
        payment_terms="Payable within 30 days of the invoice date, quoting the invoice number.",
        purchase_order="PO-4711" if client == "de_DE" else "",
        corrects="INV-2026-00042" if kind == "credit_note" else "",
        corrects_date=date(2026, 11, 2) if kind == "credit_note" else None,
        reason="Incidents charged twice" if kind == "credit_note" else "",
    )


DOCUMENTS = [
    pytest.param("en_US", "invoice", 1, id="en_US-sales-tax-8.25"),
    pytest.param("de_DE", "invoice", 1, id="de_DE-VAT-19"),
    pytest.param("fr_CA", "invoice", 1, id="fr_CA-GST-and-QST"),
    pytest.param("reverse_charge", "invoice", 1, id="intra-EU-reverse-charge"),
    pytest.param("de_DE", "credit_note", -1, id="de_DE-credit-note"),
    pytest.param("fr_CA", "credit_note", -1, id="fr_CA-credit-note"),
]


@pytest.mark.parametrize("client, kind, sign", DOCUMENTS)
def test_the_factur_x_xml_passes_the_en16931_xsd_and_schematron(schematron, client, kind, sign):
    xml = cii_xml(invoice(client, kind, sign))
    assert xsd_errors(xml, CII_XSD) == []
    assert schematron(xml, CII_SCHEMATRON) == []


@pytest.mark.parametrize("client, kind, sign", DOCUMENTS)
def test_the_ubl_xml_passes_the_ubl_xsd_and_en16931_schematron(schematron, client, kind, sign):
    xml = ubl_xml(invoice(client, kind, sign))
    assert xsd_errors(xml, UBL_XSD[kind]) == []
    assert schematron(xml, UBL_SCHEMATRON) == []


@pytest.mark.parametrize("write, xslt", [(cii_xml, CII_SCHEMATRON), (ubl_xml, UBL_SCHEMATRON)],
                         ids=["CII", "UBL"])
def test_a_wrong_total_fails_the_same_check(schematron, write, xslt):
    wrong = replace(invoice("de_DE"), total=invoice("de_DE").total + Decimal("0.01"))
    failures = schematron(write(wrong), xslt)
    assert any(failure.startswith("BR-CO-15") for failure in failures), failures


def test_a_credit_note_is_a_ubl_credit_note_naming_the_invoice_it_corrects():
    root = etree.fromstring(ubl_xml(invoice("de_DE", "credit_note", -1)))
    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=ns) \
        == "INV-2026-00042"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns) == "2561.95"


def test_quebec_taxes_are_named_each_with_its_own_rounded_amount():
    document = invoice("fr_CA")  # subtotal 2152.90: GST 107.645 → 107.65, QST 214.751775 → 214.75
    assert [(t.name, t.amount) for t in document.taxes] == [("GST", Decimal("107.65")),
                                                           ("QST", Decimal("214.75"))]
    assert b"GST 5 %: 107.65; QST 9.975 %: 214.75" in cii_xml(document)


def test_reverse_charge_is_category_ae_with_the_legal_note_and_the_buyers_vat_id():
    xml = cii_xml(invoice("reverse_charge"))
    assert b"<ram:CategoryCode>AE</ram:CategoryCode>" in xml
    assert b"<ram:ExemptionReason>Reverse charge</ram:ExemptionReason>" in xml
    assert b'<ram:ID schemeID="VA">FR40303265045</ram:ID>' in xml


def test_markup_in_a_name_is_kept_as_text():
    root = etree.fromstring(cii_xml(invoice("fr_CA")))
    names = [e.text for e in root.iter("{*}Name")]
    assert "Érable <Conseil> inc." in names


HTML = """<!doctype html><html lang="de-DE"><head><meta charset="utf-8">
<title>Rechnung {number}</title></head>
<body><h1>Rechnung {number}</h1><p>Support Ledger GmbH, USt-IdNr. DE136695976</p>
<p>IBAN DE89 3704 0044 0532 0130 00</p></body></html>"""


def test_the_pdf_is_pdf_a_3b_with_the_xml_embedded_as_factur_x_xml_and_stable_bytes():
    document = invoice("de_DE")
    xml = cii_xml(document)
    html = HTML.format(number=document.number)
    first = render_facturx_pdf(html, xml, document.issue_date, title=f"Rechnung {document.number}")
    second = render_facturx_pdf(html, xml, document.issue_date, title=f"Rechnung {document.number}")
    assert first == second
    reader = PdfReader(io.BytesIO(first))
    assert reader.attachments == {"factur-x.xml": [xml]}
    catalog = reader.trailer["/Root"]
    filespec = catalog["/AF"][0].get_object()
    assert filespec["/AFRelationship"] == "/Alternative"
    assert filespec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    xmp = catalog["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp or b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b'pdfaid:conformance="B"' in xmp or b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert b"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert reader.metadata["/CreationDate"].startswith("D:20261102000000")
    assert facturx.get_facturx_xml_from_pdf(io.BytesIO(first), check_xsd=True)[1] == xml
