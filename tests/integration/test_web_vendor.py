"""The vendor profile and clients' billing details in the pages.

SPEC.md "Invoices a vendor can send": the seller's legal name, address, country, tax ID and
payment details print on every invoice; an issued invoice keeps what it printed. Bad input
gets an error beside its field and nothing is stored; only an admin edits the profile. The
logo is served with its own media type and can run nothing when opened on its own.
"""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from ledger.extensions import db
from ledger.models import Client, Vendor
from ledger.services import archive, bundles, invoicing
from ledger.services.vendor import get_vendor
from tests.helpers import ONCE, VENDOR, both_engines, browser_opener, page_text, user_maker

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
       b'<rect width="120" height="40" fill="#245"/></svg>')
PROFILE = dict(legal_name="Nordlicht Support AG", address="Hauptstraße 5\n80331 München", country="DE",
               vat_id="DE136695976", registration="HRB 98765", iban="GB82 WEST 1234 5698 7654 32",
               bic="NWBKGB2L", bank_account="", email="invoices@nordlicht.example", phone="+49 89 555 0100")


@pytest.fixture
def browser_as(app):
    return browser_opener(app, user_maker(app))


@pytest.fixture
def admin(browser_as):
    return browser_as("admin")


def saved_profile(app) -> dict:
    with app.app_context():
        vendor = get_vendor(db.session, app.config)
        return {name: getattr(vendor, name) for name in (*VENDOR, "logo", "logo_type")}


def post_profile(browser, **changes):
    """Post the profile form as the admin would after changing ``changes`` (a logo as ``(bytes, filename)``)."""
    page = browser.get("/admin/vendor")
    fields = {**PROFILE, **changes, "csrf_token": browser.csrf_token,
              "once": ONCE.search(page.get_data(as_text=True)).group(1)}
    if "logo" in fields:
        data, filename = fields["logo"]
        fields["logo"] = FileStorage(io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    # encoded in memory: the test client would spool a big upload to a file it never closes
    boundary, body = encode_multipart(fields)
    return browser.client.post("/admin/vendor", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def issue_january(app, code: str) -> str:
    """Issue and archive a client's January invoice, as the month's run does; its number."""
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == code))
        bundles.buy_bundle(db.session, client, 10, date(2026, 1, 5))
        invoice = invoicing.issue_invoice(db.session, client, "2026-01", date(2026, 2, 1))
        archive.archive_now(db.session, invoice, app.config)
        db.session.commit()
        return invoice.number


def pdf_text(data: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


def error_beside(response, field: str) -> str:
    """The error shown under ``field`` (empty when there is none)."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">(.*?)</p>', page_text(response), re.S)
    return found.group(1) if found else ""


# --- the vendor profile ----------------------------------------------------------------------


def test_an_admin_saves_the_profile_and_the_next_invoice_prints_it(app, admin, browser_as, make_client, rate_card):
    make_client("ACME", name="Acme Corp")

    saved = post_profile(admin)
    shown = page_text(admin.get("/admin/vendor"))
    number = issue_january(app, "ACME")
    pdf = browser_as("finance").get(f"/finance/invoices/{number}/pdf").get_data()

    assert saved.status_code == 302 and saved.location.endswith("/admin/vendor")
    assert "The vendor profile is saved" in shown and 'value="Nordlicht Support AG"' in shown
    assert saved_profile(app)["iban"] == "GB82WEST12345698765432"
    text = pdf_text(pdf)
    assert "Nordlicht Support AG" in text and "München" in text and "DE136695976" in text
    assert "GB82" in text and "WEST" in text and VENDOR["legal_name"] not in text


BAD_INPUT = [
    ("vat_id", {"vat_id": "DE123"}, "not a valid VAT or tax ID"),
    ("iban", {"iban": "DE00 1234 5678"}, "not a valid IBAN"),
    ("country", {"country": "XX"}, "not an ISO 3166-1 alpha-2 country code"),
    ("email", {"email": "billing at vendor"}, "not an e-mail address"),
    ("legal_name", {"legal_name": "<b>Evil</b> & Co"}, "markup is not allowed"),
    ("logo", {"logo": (b"GIF89a not what it claims", "logo.png")}, "not a PNG, JPEG or SVG image"),
    ("logo", {"logo": (PNG + b"\x00" * (2 * 1024 * 1024), "big.png")}, "larger than 1 MB"),
    ("logo", {"logo": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg")},
     "not a PNG, JPEG or SVG image"),
]


@pytest.mark.parametrize(("field", "changes", "message"), BAD_INPUT, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUT)])
def test_bad_input_is_shown_beside_its_field_and_nothing_is_stored(app, admin, field, changes, message):
    before = saved_profile(app)

    response = post_profile(admin, **changes)

    assert response.status_code == 422
    assert message in error_beside(response, field)
    assert saved_profile(app) == before
    assert "<b>Evil" not in response.get_data(as_text=True)  # typed markup comes back as text


def test_every_mistake_is_shown_at_once_and_nothing_is_stored(app, admin):
    before = saved_profile(app)

    response = post_profile(admin, legal_name="Changed AG", vat_id="DE123", iban="DE00", bic="NOPE")

    assert response.status_code == 422
    assert error_beside(response, "vat_id") and error_beside(response, "iban") and error_beside(response, "bic")
    assert 'value="Changed AG"' in page_text(response)  # what was typed is kept
    assert saved_profile(app) == before


@pytest.mark.parametrize("role", ["account_manager", "finance", "client"])
def test_only_an_admin_opens_or_changes_the_profile(app, browser_as, make_client, role):
    make_client("ACME")
    browser = browser_as(role, "ACME" if role == "client" else None)
    before = saved_profile(app)

    answers = [browser.get("/admin/vendor").status_code, browser.get("/admin/vendor/logo").status_code,
               browser.post("/admin/vendor", {**PROFILE}).status_code,
               browser.post("/admin/vendor/logo/remove").status_code]

    assert answers == [403, 403, 403, 403]
    assert saved_profile(app) == before


@pytest.mark.parametrize(("data", "filename", "media_type"), [(SVG, "logo.svg", "image/svg+xml"),
                                                               (PNG, "logo.png", "image/png")])
def test_the_logo_is_served_as_its_own_image_type_and_can_run_nothing(app, admin, data, filename, media_type):
    post_profile(admin, logo=(data, filename))

    page = page_text(admin.get("/admin/vendor"))
    logo = admin.get("/admin/vendor/logo")

    assert '<img id="vendor-logo" src="/admin/vendor/logo"' in page
    assert logo.status_code == 200 and logo.get_data() == data
    assert logo.mimetype == media_type
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    assert "default-src 'none'" in logo.headers["Content-Security-Policy"]
    assert saved_profile(app)["logo_type"] == media_type


def test_keeping_the_logo_when_no_file_is_chosen_and_removing_it_after_confirming(app, admin):
    post_profile(admin, logo=(SVG, "logo.svg"))
    post_profile(admin, logo=(b"", ""))  # the form sent again without a new file

    kept = saved_profile(app)["logo"]
    asked = admin.post("/admin/vendor/logo/remove")
    still = saved_profile(app)["logo"]
    removed = admin.confirm(asked)

    assert kept == SVG
    assert asked.status_code == 200 and "Remove the logo" in page_text(asked) and still == SVG
    assert removed.status_code == 302 and saved_profile(app)["logo"] is None
    assert admin.get("/admin/vendor/logo").status_code == 404
    assert "No logo is saved" in page_text(admin.get("/admin/vendor"))


@pytest.mark.incomplete_vendor
def test_the_invoices_page_says_issuing_waits_for_the_profile_and_links_to_it(browser_as):
    finance = page_text(browser_as("finance").get("/finance/invoices?period=2026-01"))
    admin = page_text(browser_as("admin").get("/finance/invoices?period=2026-01"))

    notice = finance.split('id="vendor-incomplete">')[1].split("</p>")[0]
    assert "Invoices cannot be issued: the vendor profile lacks" in notice and "IBAN" in notice
    assert "An administrator completes it" in notice
    assert 'href="/admin/vendor"' in admin.split('id="vendor-incomplete">')[1].split("</p>")[0]


@both_engines
@pytest.mark.incomplete_vendor
def test_a_first_profile_is_stored_only_once_it_is_right_and_the_notice_goes(app, admin, browser_as):
    refused = post_profile(admin, iban="DE00")
    with app.app_context():
        stored = db.session.get(Vendor, 1)

    saved = post_profile(admin)
    finance = page_text(browser_as("finance").get("/finance/invoices?period=2026-01"))

    assert refused.status_code == 422 and "not a valid IBAN" in error_beside(refused, "iban")
    assert stored is None
    assert saved.status_code == 302 and saved_profile(app)["legal_name"] == "Nordlicht Support AG"
    assert 'id="vendor-incomplete"' not in finance


def test_a_complete_profile_shows_no_notice_on_the_invoices_page(browser_as):
    assert 'id="vendor-incomplete"' not in page_text(browser_as("finance").get("/finance/invoices?period=2026-01"))


# --- the client's billing details ------------------------------------------------------------


def billing_form(**changes) -> dict:
    fields = {"country": "CA", "vat_id": "", "billing_emails": "ap@acme.example\nfinance@acme.example",
              "payment_terms_days": "45", "purchase_order": "PO-7781", "reverse_charge": "",
              "taxes-0-name": "GST", "taxes-0-rate": "5", "taxes-1-name": "QST", "taxes-1-rate": "9.975",
              "taxes-2-name": "", "taxes-2-rate": "", "taxes-3-name": "", "taxes-3-rate": ""}
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


def billing_of(app, code: str) -> dict:
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.code == code))
        return {"country": client.country, "vat_id": client.vat_id, "billing_emails": client.billing_emails,
                "payment_terms_days": client.payment_terms_days, "purchase_order": client.purchase_order,
                "reverse_charge": client.reverse_charge, "tax_rate": str(client.tax_rate),
                "taxes": [(t.name, str(t.rate)) for t in client.taxes]}


@both_engines
@pytest.mark.parametrize("role", ["account_manager", "finance"])
def test_billing_details_change_the_client_but_not_an_issued_invoice(app, browser_as, make_client, rate_card, role):
    make_client("ACME", name="Acme Corp")
    number = issue_january(app, "ACME")
    finance = browser_as("finance")
    before = finance.get(f"/finance/invoices/{number}/pdf").get_data()
    browser = browser_as(role)

    link = page_text(browser.get("/clients/ACME"))
    form = page_text(browser.get("/clients/ACME/billing"))
    saved = browser.post("/clients/ACME/billing", billing_form())
    after = finance.get(f"/finance/invoices/{number}/pdf").get_data()

    assert 'href="/clients/ACME/billing"' in link and "Edit billing details" in link
    assert 'name="taxes-3-rate"' in form and "Invoices issued already keep what they printed" in form
    assert saved.status_code == 302 and saved.location.endswith("/clients/ACME")
    assert billing_of(app, "ACME") == {
        "country": "CA", "vat_id": "", "billing_emails": ["ap@acme.example", "finance@acme.example"],
        "payment_terms_days": 45, "purchase_order": "PO-7781", "reverse_charge": False, "tax_rate": "14.975",
        "taxes": [("GST", "5.000"), ("QST", "9.975")]}
    assert after == before
    assert "PO-7781" not in pdf_text(after)


def test_the_billing_form_shows_what_is_saved(app, browser_as, make_client):
    make_client("ACME")
    browser = browser_as("account_manager")
    browser.post("/clients/ACME/billing", billing_form(country="DE", vat_id="DE136695976", reverse_charge="y",
                                                       **{"taxes-0-name": "", "taxes-0-rate": "",
                                                          "taxes-1-name": "", "taxes-1-rate": ""}))

    page = page_text(browser.get("/clients/ACME/billing"))

    assert billing_of(app, "ACME")["taxes"] == [] and billing_of(app, "ACME")["reverse_charge"] is True
    assert 'value="DE136695976"' in page and "ap@acme.example\nfinance@acme.example" in page
    assert re.search(r'<input checked id="reverse_charge"|id="reverse_charge"[^>]*checked', page)


BAD_BILLING = [
    ("country", {"country": "Canada"}, "cannot be longer than 2"),
    ("country", {"country": "QQ"}, "not an ISO 3166-1 alpha-2 country code"),
    ("vat_id", {"country": "DE", "vat_id": "DE123"}, "not a valid VAT or tax ID"),
    ("billing_emails", {"billing_emails": "ap@acme.example\nnot an address"}, "not an e-mail address"),
    ("payment_terms_days", {"payment_terms_days": "-5"}, "between 0 and 365"),
    ("payment_terms_days", {"payment_terms_days": ""}, "Give the payment terms in days."),
    ("purchase_order", {"purchase_order": "<img src=x onerror=alert(1)>"}, "markup is not allowed"),
    ("taxes-1-rate", {"taxes-1-rate": "150"}, "between 0 and 100"),
    ("taxes-1-rate", {"taxes-1-rate": ""}, "Give the rate of this tax"),
    ("taxes-2-name", {"taxes-2-rate": "2"}, "Give this tax a name"),
]


@pytest.mark.parametrize(("field", "changes", "message"), BAD_BILLING,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_BILLING)])
def test_bad_billing_details_are_shown_beside_their_field_and_nothing_is_stored(app, browser_as, make_client,
                                                                                field, changes, message):
    make_client("ACME")
    browser = browser_as("account_manager")
    before = billing_of(app, "ACME")

    response = browser.post("/clients/ACME/billing", billing_form(**changes))

    assert response.status_code == 422
    assert message in error_beside(response, field)
    assert billing_of(app, "ACME") == before
    assert "<img src=x" not in response.get_data(as_text=True)


def test_a_client_user_cannot_open_billing_details(app, browser_as, make_client):
    make_client("ACME")
    browser = browser_as("client", "ACME")

    assert browser.get("/clients/ACME/billing").status_code == 403
    assert browser.post("/clients/ACME/billing", billing_form()).status_code == 403


# --- both forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "path"), [("admin", "/admin/vendor"), ("finance", "/clients/ACME/billing")])
def test_every_field_has_a_label_and_the_page_needs_no_inline_script_or_style(browser_as, make_client, role, path):
    make_client("ACME")
    page = browser_as(role).get(path).get_data(as_text=True)

    fields = re.findall(r'<(?:input|textarea|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
    labels = set(re.findall(r'<label for="([^"]+)"', page))

    assert len(fields) >= 9 and set(fields) <= labels, set(fields) - labels
    lowered = page.lower()
    assert "<script" not in lowered and "<style" not in lowered and " style=" not in lowered
    assert " onclick=" not in lowered and " onload=" not in lowered
