"""The vendor's profile and clients' billing details: checked field by field, nothing stored on bad input."""

from decimal import Decimal

import pytest

from ledger.errors import ValidationError
from ledger.models import Vendor
from ledger.services.vendor import (
    VendorIncomplete,
    get_vendor,
    missing_for_invoicing,
    require_complete,
    set_client_billing,
    update_vendor,
)

#: these tests start from an empty profile
pytestmark = pytest.mark.incomplete_vendor

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
COMPLETE = dict(legal_name="Support Ledger GmbH", address="Friedrichstraße 123\n10117 Berlin", country="de",
                vat_id="DE 136 695 976", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
                email="billing@vendor.example")


def test_until_saved_the_profile_comes_from_the_instance_config(session):
    vendor = get_vendor(session, {"VENDOR_NAME": "Acme Support", "VENDOR_ADDRESS": "1 Main St",
                                  "VENDOR_TAX_ID": "12-3456789"})
    assert (vendor.legal_name, vendor.address, vendor.vat_id) == ("Acme Support", "1 Main St", "12-3456789")
    assert missing_for_invoicing(vendor) == ["country", "iban"]


def test_issuing_is_refused_naming_what_the_profile_lacks(session):
    with pytest.raises(VendorIncomplete) as refused:
        require_complete(get_vendor(session, {}))
    assert refused.value.status == 409 and refused.value.code == "vendor_incomplete"
    assert refused.value.missing == ["legal_name", "address", "country", "vat_id", "iban"]


def test_a_complete_profile_is_stored_in_compact_forms(session):
    vendor = update_vendor(session, {}, **COMPLETE, logo=PNG)
    assert (vendor.country, vendor.vat_id, vendor.iban) == ("DE", "DE136695976", "DE89370400440532013000")
    assert (vendor.logo_type, vendor.logo_size) == ("image/png", len(PNG))
    assert missing_for_invoicing(session.get(Vendor, 1)) == []


@pytest.mark.parametrize("field, value", [
    ("country", "XX"), ("country", "DEU"), ("vat_id", "DE136695977"), ("iban", "DE89 3704 0044 0532 0130 01"),
    ("bic", "NOTABIC"), ("email", "not-an-email"), ("logo", b"GIF89a....."),
    ("logo", PNG + b"\0" * 1024 * 1024),
    ("logo", b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>'),
    ("legal_name", 42), ("website", "https://example.com"),
])
def test_bad_input_names_the_field_and_stores_nothing(session, field, value):
    with pytest.raises(ValidationError) as refused:
        update_vendor(session, {}, **{**COMPLETE, field: value})
    assert refused.value.field == field
    assert session.get(Vendor, 1) is None


def test_markup_is_stored_as_typed(session):
    vendor = update_vendor(session, {}, legal_name="<b>Acme</b> & Co")
    assert vendor.legal_name == "<b>Acme</b> & Co"


def test_quebec_client_gets_named_taxes_and_tax_rate_is_their_sum(app, session, make_client):
    from ledger.models import Client

    client = session.get(Client, make_client(currency="CAD", locale="fr_CA").id)
    set_client_billing(session, client, country="ca", billing_emails=["ap@erable.example"],
                       payment_terms_days=45, taxes=[{"name": "GST", "rate": "5"},
                                                     {"name": "QST", "rate": "9.975"}])
    assert [(t.name, t.rate) for t in client.taxes] == [("GST", Decimal(5)), ("QST", Decimal("9.975"))]
    assert client.tax_rate == Decimal("14.975")
    assert (client.country, client.payment_terms_days) == ("CA", 45)


@pytest.mark.parametrize("field, value", [
    ("payment_terms_days", -1), ("taxes", [{"name": "", "rate": "5"}]),
    ("taxes", [{"name": "X", "rate": "101"}]),
    ("country", "ZZ"), ("billing_emails", ["nope"]), ("vat_id", "DE136695977"),
])
def test_bad_client_billing_details_name_the_field(app, session, make_client, field, value):
    from ledger.models import Client

    client = session.get(Client, make_client().id)
    with pytest.raises(ValidationError) as refused:
        set_client_billing(session, client, **{field: value})
    assert refused.value.field == field
