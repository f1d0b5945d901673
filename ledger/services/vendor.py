"""The vendor's profile and the clients' billing details: validated, then stored as text.

Formats are checked by maintained libraries: ``pycountry`` (ISO 3166-1), ``python-stdnum``
(VAT and national tax numbers, check digits included) and ``schwifty`` (IBAN, BIC).
Markup in any field is kept as typed: documents escape it and fetch nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from lxml import etree
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy.orm import Session
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from .. import billing
from ..errors import N_, Conflict, ValidationError
from ..models import Client, ClientTax, Vendor
from ..models.base import utcnow

#: the name of the one tax component of a client that has named none; documents print it as "Tax"
UNNAMED_TAX = "Tax"
#: the largest logo accepted, in bytes
LOGO_MAX_BYTES = 1024 * 1024
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
TAX_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9 ./-]{0,38}[A-Z0-9]$")
TEXT_LIMITS = {"legal_name": 200, "address": 1000, "registration": 100, "bank_account": 200, "phone": 40}
VENDOR_FIELDS = ("legal_name", "address", "country", "vat_id", "registration", "iban", "bic", "bank_account",
                 "email", "phone", "logo")


class VendorIncomplete(Conflict):
    """Issuing refused: the vendor's profile lacks what an invoice must name."""

    code = "vendor_incomplete"

    def __init__(self, missing: list[str]):
        super().__init__(f"the vendor's profile lacks {', '.join(missing)}; complete it before issuing",
                         missing[0])
        self.missing = missing


# --- the vendor --------------------------------------------------------------------


def get_vendor(session: Session, config: Mapping | None = None) -> Vendor:
    """The vendor's profile; until one is saved, a transient one from ``VENDOR_*`` config values."""
    vendor = session.get(Vendor, 1)
    if vendor is not None:
        return vendor
    config = app_config() if config is None else config
    return Vendor(
        id=1, legal_name=config.get("VENDOR_NAME", ""), address=config.get("VENDOR_ADDRESS", ""),
        country=config.get("VENDOR_COUNTRY", ""), vat_id=config.get("VENDOR_TAX_ID", ""), registration="",
        iban="", bic="", bank_account="", email="", phone="", logo=None, logo_type="", logo_size=0,
    )


def app_config() -> Mapping:
    """The running app's config; empty outside an app context (a plain render, a script)."""
    from flask import current_app, has_app_context

    return current_app.config if has_app_context() else {}


def update_vendor(session: Session, config: Mapping | None = None, **fields: Any) -> Vendor:
    """Set the given profile fields (``logo=None`` removes the logo); nothing is stored on bad input."""
    unknown = sorted(set(fields) - set(VENDOR_FIELDS))
    if unknown:
        raise ValidationError(f"the vendor's profile has no field {unknown[0]!r}", unknown[0])
    clean = {name: _clean_vendor_field(name, value) for name, value in fields.items()}
    country = clean.get("country")
    vendor = get_vendor(session, config)
    if "vat_id" in clean:
        clean["vat_id"] = clean_vat_id(clean["vat_id"], country or vendor.country, "vat_id")
    if "logo" in clean:
        logo, media_type = clean.pop("logo")
        clean.update(logo=logo, logo_type=media_type, logo_size=len(logo or b""))
    for name, value in clean.items():
        setattr(vendor, name, value)
    vendor.updated_at = utcnow()
    session.add(vendor)
    session.flush()
    return vendor


def _clean_vendor_field(name: str, value: Any):
    if name == "logo":
        return (None, "") if value is None else clean_logo(value)
    text = clean_text(value, name, TEXT_LIMITS.get(name, 254))
    if name == "country":
        return clean_country(text, name)
    if name == "iban":
        return clean_iban(text)
    if name == "bic":
        return clean_bic(text)
    if name == "email":
        return clean_email(text, name) if text else ""
    return text


def missing_for_invoicing(vendor: Vendor) -> list[str]:
    """What an invoice must name that the profile lacks: [] when issuing may go ahead."""
    missing = [name for name in ("legal_name", "address", "country")
               if not (getattr(vendor, name) or "").strip()]
    if not (vendor.vat_id or "").strip():
        missing.append("vat_id")
    if not (vendor.iban or vendor.bank_account):
        missing.append("iban")  # or bank_account: payment details of either kind
    return missing


def require_complete(vendor: Vendor) -> None:
    """Raise VendorIncomplete (409 ``vendor_incomplete``) naming what is missing."""
    missing = missing_for_invoicing(vendor)
    if missing:
        raise VendorIncomplete(missing)


# --- the client's billing details --------------------------------------------------


def set_client_billing(session: Session, client: Client, **fields: Any) -> Client:
    """Set a client's billing details; ``taxes`` ([{name, rate}]) replaces the components and ``tax_rate``."""
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "country":
            clean[name] = clean_country(clean_text(value, name, 2), name)
        elif name == "vat_id":
            clean[name] = clean_text(value, name, 40)
        elif name == "billing_emails":
            clean[name] = clean_emails(value, name)
        elif name == "payment_terms_days":
            clean[name] = clean_payment_terms(value)
        elif name == "purchase_order":
            clean[name] = clean_text(value, name, 100)
        elif name == "reverse_charge":
            if not isinstance(value, bool):
                raise ValidationError("reverse_charge is true or false", name)
            clean[name] = value
        elif name == "taxes":
            clean[name] = clean_taxes(value)
        else:
            raise ValidationError(f"a client has no billing field {name!r}", name)
    if "vat_id" in clean:
        clean["vat_id"] = clean_vat_id(clean["vat_id"], clean.get("country", client.country), "vat_id")
    components = clean.pop("taxes", None)
    for name, value in clean.items():
        setattr(client, name, value)
    if components is not None:
        # the old components go first: the unit of work inserts before it deletes, and positions are unique
        client.taxes.clear()
        session.flush()
        client.taxes = [ClientTax(position=i, name=c.name, rate=c.rate) for i, c in enumerate(components, 1)]
        client.tax_rate = sum((c.rate for c in components), Decimal(0))
    session.flush()
    return client


def tax_components(client: Client) -> tuple[billing.TaxComponent, ...]:
    """The client's named taxes; a client without any has one 'Tax' at ``tax_rate``."""
    if client.taxes:
        return tuple(billing.TaxComponent(t.name, Decimal(t.rate)) for t in client.taxes)
    return (billing.TaxComponent(UNNAMED_TAX, Decimal(client.tax_rate)),)


# --- field checks ------------------------------------------------------------------


def clean_text(value: Any, field: str, limit: int) -> str:
    """A string, trimmed, at most ``limit`` characters, without control characters but newlines."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} is text", field)
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(N_("%(field_name)s is at most %(max)s characters"), field, field_name=field, max=limit)
    if any(ord(char) < 32 and char not in "\n\r\t" for char in value):
        raise ValidationError(N_("%(field_name)s holds a control character"), field, field_name=field)
    return value.replace("\r\n", "\n")


def clean_country(value: str, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code, upper case; empty stays empty."""
    code = value.strip().upper()
    if code and (len(code) != 2 or pycountry.countries.get(alpha_2=code) is None):
        raise ValidationError(N_("%(value)r is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)"), field,
                              value=value)
    return code


def clean_vat_id(value: str, country: str, field: str = "vat_id") -> str:
    """A VAT ID checked with its check digits (EU: country prefix kept), or a national tax number."""
    if not value:
        return ""
    compact = re.sub(r"[\s.\-/]", "", value.upper())
    try:
        if compact[:2].lower() in eu_vat.MEMBER_STATES | {"el", "xi"}:
            return eu_vat.validate(compact)
        module = get_cc_module(country.lower(), "vat") if country else None
        if module is not None:
            return module.validate(compact)
    except StdnumError as error:
        raise ValidationError(N_("%(value)r is not a valid VAT or tax ID: %(reason)s"), field, value=value,
                              reason=str(error)) from None
    if not TAX_NUMBER.match(value.upper()):
        raise ValidationError(N_("%(value)r is not a VAT or tax ID"), field, value=value)
    return value.upper()


def clean_iban(value: str) -> str:
    """An IBAN, compact and upper case, its check digits and country format verified."""
    if not value:
        return ""
    try:
        return IBAN(value).compact
    except SchwiftyException as error:
        raise ValidationError(N_("not a valid IBAN: %(reason)s"), "iban", reason=str(error)) from None


def clean_bic(value: str) -> str:
    """A BIC (SWIFT code), compact and upper case."""
    if not value:
        return ""
    try:
        return str(BIC(value))
    except SchwiftyException as error:
        raise ValidationError(N_("not a valid BIC: %(reason)s"), "bic", reason=str(error)) from None


def clean_email(value: str, field: str) -> str:
    """One e-mail address, lower-cased domain left as typed."""
    if not EMAIL.match(value) or len(value) > 254:
        raise ValidationError(N_("%(value)r is not an e-mail address"), field, value=value)
    return value


def clean_emails(value: Any, field: str = "billing_emails") -> list[str]:
    """A list of distinct e-mail addresses, at most 10."""
    if not isinstance(value, list) or len(value) > 10:
        raise ValidationError(N_("%(field_name)s is a list of at most 10 e-mail addresses"), field, field_name=field)
    emails = [clean_email(clean_text(item, field, 254), field) for item in value]
    return list(dict.fromkeys(emails))


def clean_payment_terms(value: Any) -> int:
    """Days from issue to due date: a whole number from 0 to 365."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
        raise ValidationError(N_("payment_terms_days is a whole number of days from 0 to 365"),
                              "payment_terms_days")
    return value


def clean_taxes(value: Any) -> tuple[billing.TaxComponent, ...]:
    """``[{name, rate}]`` as tax components: a name and a percentage 0–100 with at most 3 decimals."""
    if not isinstance(value, list) or len(value) > 5:
        raise ValidationError("taxes is a list of at most 5 {name, rate} components", "taxes")
    components = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"name", "rate"}:
            raise ValidationError("each tax component is {name, rate}", "taxes")
        try:
            rate = Decimal(str(item["rate"])) if not isinstance(item["rate"], float) else None
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or rate != rate.quantize(Decimal("0.001")):
            raise ValidationError("a tax rate is a percentage as a string, e.g. \"9.975\"", "taxes")
        component = billing.TaxComponent(clean_text(item["name"], "taxes", 60), rate)
        try:
            billing.check_tax_component(component)
        except billing.RuleViolation as error:
            raise ValidationError(error.template, "taxes", **error.params) from None
        components.append(component)
    if sum((c.rate for c in components), Decimal(0)) > 100:
        raise ValidationError(N_("the tax components add up to more than 100 %"), "taxes")
    return tuple(components)


def clean_logo(data: Any) -> tuple[bytes, str]:
    """Logo bytes and their media type: a PNG, JPEG or SVG by content, at most 1 MB."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValidationError(N_("the logo is an uploaded PNG, JPEG or SVG file"), "logo")
    data = bytes(data)
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError(N_("the logo is larger than 1 MB"), "logo")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data, "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return data, "image/jpeg"
    if _is_self_contained_svg(data):
        return data, "image/svg+xml"
    raise ValidationError(N_("the logo is not a PNG, JPEG or SVG image"), "logo")


def _is_self_contained_svg(data: bytes) -> bool:
    """An SVG document that links to nothing outside itself (no entities, no external hrefs)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return False
    if root.tag != "{http://www.w3.org/2000/svg}svg" or root.getroottree().docinfo.internalDTD:
        return False
    for element in root.iter(etree.Element):
        if element.tag.endswith("}script") or element.tag.endswith("}foreignObject"):
            return False
        for name, value in element.attrib.items():
            if name.endswith("href") and not value.startswith(("#", "data:image/")):
                return False
    return True
