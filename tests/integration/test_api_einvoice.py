"""The e-invoicing API: the vendor's profile, the clients' billing details, the XML and UBL downloads."""

from __future__ import annotations

import functools
import io
from datetime import date

import pytest
from pypdf import PdfReader

from ledger import batch
from tests.helpers import VENDOR, add_client, bill_a_month, built_once, post_created, signed_in, staff_api

VENDOR_BODY = {name: value for name, value in VENDOR.items()}


@built_once()
def billed(app, after):
    """ACME (USD) and BETA (EUR) invoiced for February; their invoice numbers."""
    bill_a_month(app, staff_api(app), functools.partial(add_client, app))
    finance = staff_api(app, "finance")
    numbers = {}
    for code in ("ACME", "BETA"):
        (summary,) = finance.get(f"/clients/{code}/invoices").get_json()["items"]
        numbers[code] = summary["number"]
    return numbers


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


@pytest.fixture
def admin(api, make_token):
    return api.as_(make_token("admin"))


# --- the vendor ---------------------------------------------------------------------


def test_staff_read_the_vendors_profile_as_invoices_print_it(api, finance):
    for reader in (api, finance):
        response = reader.get("/vendor")
        assert response.status_code == 200
        assert response.get_json()["vat_id"] == "DE136695976"
        assert response.get_json()["iban"] == "DE89370400440532013000"


def test_an_admin_sets_the_vendors_profile(admin):
    response = admin.send("PUT", "/vendor", {**VENDOR_BODY, "legal_name": "Ledger AG", "phone": None})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["legal_name"] == "Ledger AG"
    assert admin.get("/vendor").get_json()["legal_name"] == "Ledger AG"


@pytest.mark.parametrize("role", ["account_manager", "finance"])
def test_only_an_admin_may_change_the_vendors_profile(api, make_token, role):
    response = api.as_(make_token(role)).send("PUT", "/vendor", {**VENDOR_BODY, "legal_name": "Hijacked"})

    assert response.status_code == 403
    assert api.get("/vendor").get_json()["legal_name"] == VENDOR["legal_name"]


def test_a_client_user_may_not_read_the_vendors_profile(api, make_token, make_client):
    make_client("ACME")
    assert api.as_(make_token("client", client="ACME")).get("/vendor").status_code == 403


@pytest.mark.parametrize(("field", "value"), [
    ("vat_id", "DE123"), ("iban", "DE00370400440532013000"), ("country", "XX")])
def test_a_malformed_vendor_field_is_refused_naming_it_and_nothing_is_stored(admin, field, value):
    response = admin.send("PUT", "/vendor", {**VENDOR_BODY, "legal_name": "Changed", field: value})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert admin.get("/vendor").get_json()["legal_name"] == VENDOR["legal_name"]


# --- the client's billing details ---------------------------------------------------


QUEBEC = {"code": "QC", "name": "Érable Inc.", "currency": "CAD", "locale": "fr_CA", "term_start": "2026-01-01",
          "taxes": [{"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}],
          "billing_emails": ["ap@erable.example"], "payment_terms_days": 15, "purchase_order": "PO-1",
          "vat_id": "123456789RT0001"}


def test_a_client_is_created_with_its_billing_details_and_taxes_add_up_to_the_rate(api, rate_card):
    created = post_created(api, "/clients", QUEBEC)

    assert created["tax_rate"] == "14.975"
    assert created["taxes"] == [{"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}]
    assert created["country"] == "CA"
    assert (created["billing_emails"], created["payment_terms_days"], created["purchase_order"]) == (
        ["ap@erable.example"], 15, "PO-1")
    assert api.get("/clients/QC").get_json() == created


def test_patching_a_client_changes_only_the_fields_given(api, rate_card):
    post_created(api, "/clients", QUEBEC)

    response = api.send("PATCH", "/clients/QC", {"name": "Érable Ltée", "payment_terms_days": 45,
                                                 "maintenance_fee": "500.00"})

    assert response.status_code == 200, response.get_json()
    client = api.get("/clients/QC").get_json()
    assert (client["name"], client["payment_terms_days"], client["maintenance_fee"]) == (
        "Érable Ltée", 45, "500.00")
    assert client["tax_rate"] == "14.975" and client["purchase_order"] == "PO-1"


def test_a_tax_rate_alone_replaces_the_named_taxes(api, rate_card):
    post_created(api, "/clients", QUEBEC)

    client = api.send("PATCH", "/clients/QC", {"tax_rate": "13"}).get_json()

    assert (client["tax_rate"], client["taxes"]) == ("13", [])


def test_a_client_user_may_not_patch_its_client(api, make_token, rate_card):
    post_created(api, "/clients", QUEBEC)

    response = api.as_(make_token("client", client="QC")).send("PATCH", "/clients/QC", {"purchase_order": "X"})

    assert response.status_code == 403
    assert api.get("/clients/QC").get_json()["purchase_order"] == "PO-1"


@pytest.mark.parametrize(("field", "value"), [
    ("vat_id", "DE123"), ("country", "ZZ"), ("payment_terms_days", -1), ("billing_emails", ["not-mail"])])
def test_a_malformed_client_field_is_refused_naming_it_and_nothing_is_stored(api, rate_card, field, value):
    post_created(api, "/clients", QUEBEC)

    response = api.send("PATCH", "/clients/QC", {"name": "Changed", field: value})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert api.get("/clients/QC").get_json()["name"] == "Érable Inc."


def test_a_new_client_with_a_malformed_vat_id_is_not_created(api, rate_card):
    response = api.post("/clients", {**QUEBEC, "country": "DE", "vat_id": "DE123"})

    assert response.status_code == 422 and response.get_json()["error"]["field"] == "vat_id"
    assert api.get("/clients/QC").status_code == 404


# --- invoices: taxes, XML, UBL ------------------------------------------------------


def test_the_invoice_json_names_its_taxes_and_due_date(finance, billed):
    invoice = finance.get(f"/invoices/{billed['BETA']}").get_json()

    assert invoice["due_on"] == "2026-03-31"
    (tax,) = invoice["taxes"]
    assert (tax["name"], tax["rate"], tax["amount"]) == ("Tax", "19", invoice["tax"])


def test_the_xml_is_byte_for_byte_the_attachment_of_the_archived_pdf(finance, billed):
    number = billed["ACME"]
    pdf = finance.get(f"/invoices/{number}/pdf").get_data()
    (embedded,) = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"]

    response = finance.get(f"/invoices/{number}/xml")

    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.get_data() == embedded
    assert b"CrossIndustryInvoice" in embedded and number.encode() in embedded


def test_the_ubl_is_a_peppol_invoice_of_the_same_number(finance, billed):
    response = finance.get(f"/invoices/{billed['ACME']}/ubl")

    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" in response.get_data()
    assert f"<cbc:ID>{billed['ACME']}</cbc:ID>".encode() in response.get_data()


@pytest.mark.parametrize("kind", ["xml", "ubl"])
def test_a_client_user_gets_its_own_xml_and_404_for_another_clients(api, make_token, billed, kind):
    client = api.as_(make_token("client", client="ACME"))

    assert client.get(f"/invoices/{billed['ACME']}/{kind}").status_code == 200
    refused = client.get(f"/invoices/{billed['BETA']}/{kind}")
    assert refused.status_code == 404 and not refused.get_data().startswith(b"<?xml")


@pytest.mark.parametrize("kind", ["xml", "ubl"])
def test_an_account_manager_may_not_download_the_e_invoice(api, billed, kind):
    assert api.get(f"/invoices/{billed['ACME']}/{kind}").status_code == 403


def test_changing_a_client_changes_the_next_invoice_and_not_the_issued_one(app, api, finance, billed):
    old = billed["ACME"]
    before_json = finance.get(f"/invoices/{old}").get_json()
    before_xml = finance.get(f"/invoices/{old}/xml").get_data()

    changed = api.send("PATCH", "/clients/ACME", {
        "name": "Acme Renamed", "payment_terms_days": 10, "purchase_order": "PO-77",
        "taxes": [{"name": "State", "rate": "6"}, {"name": "City", "rate": "2.5"}]})
    assert changed.status_code == 200, changed.get_json()
    post_created(api, "/clients/ACME/bundles", {"quantity": 5, "purchased_on": "2026-03-02"})
    (new,) = batch.run(app, "2026-03", date(2026, 4, 1), workers=1).issued

    assert finance.get(f"/invoices/{old}").get_json() == before_json
    assert finance.get(f"/invoices/{old}/xml").get_data() == before_xml
    invoice = finance.get(f"/invoices/{new}").get_json()
    assert [(t["name"], t["rate"]) for t in invoice["taxes"]] == [("State", "6"), ("City", "2.5")]
    assert invoice["due_on"] == "2026-04-11"
    xml = finance.get(f"/invoices/{new}/xml").get_data()
    assert b"Acme Renamed" in xml and b"PO-77" in xml and b"Acme Renamed" not in before_xml


# --- the portal ---------------------------------------------------------------------


def signed_in_client(app, code: str):
    browser, _ = signed_in(app, "client", client=code)
    return browser


def test_the_portal_links_the_xml_and_ubl_of_each_own_invoice(app, billed):
    browser = signed_in_client(app, "ACME")
    page = browser.get("/portal/invoices").get_data(as_text=True)

    for path in (f"/portal/invoices/{billed['ACME']}/factur-x.xml", f"/portal/invoices/{billed['ACME']}/ubl.xml"):
        assert path in page
        response = browser.get(path)
        assert response.status_code == 200 and response.get_data().startswith(b"<?xml")
    assert browser.get(f"/portal/invoices/{billed['ACME']}/factur-x.xml").get_data() == \
        api_xml(app, billed["ACME"])


def api_xml(app, number: str) -> bytes:
    from ledger.extensions import db
    from ledger.models import Invoice
    from ledger.services.einvoicing import invoice_xml

    with app.app_context():
        return invoice_xml(db.session.query(Invoice).filter_by(number=number).one())


@pytest.mark.parametrize("suffix", ["factur-x.xml", "ubl.xml"])
def test_the_portal_answers_404_for_another_clients_e_invoice(app, billed, suffix):
    browser = signed_in_client(app, "ACME")

    response = browser.get(f"/portal/invoices/{billed['BETA']}/{suffix}")

    assert response.status_code == 404 and not response.get_data().startswith(b"<?xml")
