"""HTML → PDF with WeasyPrint, loading nothing but ``data:`` URLs and the project's own static files."""

from __future__ import annotations

import base64
import logging
import warnings
from datetime import UTC, datetime, time
from datetime import date as date_type
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from .billing import POLICY, quote_state_on
from .charts import bar_chart
from .i18n import document_environment, translations
from .models import Invoice, Quote
from .money import Money, exponent

log = logging.getLogger(__name__)
STATIC = (Path(__file__).resolve().parent / "static").resolve()


class LockedFetcher(URLFetcher):
    """Fetches ``data:`` URLs and files under ``ledger/static``; refuses everything else.

    User-entered text ends up in documents, so a ``file://`` or ``http://`` URL in it
    must never make the renderer read a file or open a connection.
    """

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data" or (scheme == "file" and _is_static(url)):
            return super().fetch(url, headers)
        log.warning("document renderer refused to load %s", url[:200])
        raise ValueError(f"refused to load {url[:200]}")


def _is_static(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parsed.path)).resolve()
    return path.is_relative_to(STATIC) and path.is_file()


#: one font configuration per process: building it loads every system font, so it is shared
FONTS = FontConfiguration()


@lru_cache(maxsize=1)
def document_stylesheet() -> CSS:
    """The documents' print stylesheet, parsed once per process (through the locked fetcher)."""
    return CSS(filename=str(STATIC / "documents" / "print.css"), url_fetcher=LockedFetcher(),
               font_config=FONTS)


def render_document(html: str):
    """Lay out ``html`` with the shared stylesheet and fonts; relative URLs resolve inside ``ledger/static``."""
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LockedFetcher())
    return document.render(stylesheets=[document_stylesheet()], font_config=FONTS)


def render_pdf(html: str) -> bytes:
    """Render ``html`` to PDF bytes with the documents' stylesheet."""
    return render_document(html).write_pdf()


def stylesheet_url() -> str:
    """The documents' stylesheet, as a URL the locked fetcher allows (for HTML shown outside WeasyPrint)."""
    return (STATIC / "documents" / "print.css").as_uri()


def render_quote_pdf(quote: Quote, today, config=None) -> bytes:
    """The quote the client receives: lines, discount and total in the client's locale."""
    client = quote.client
    locale = client.locale
    titles = {role.code: role.title for role in quote.rate_card.roles}
    html = document_environment(locale).get_template("documents/quote.html").render(
        quote=quote, client=client, seller=seller_details(_app_config(config)),
        state=quote_state_on(quote.state, quote.valid_until, today), titles=titles,
        increment=POLICY.work_billing_increment_minutes, **_formatters(locale, quote.currency),
    )
    return render_pdf(html)


def render_statement_pdf(statement, config=None) -> bytes:
    """The client's statement of account (``services.receivables.Statement``) as a PDF in its language."""
    client = statement.client
    locale = client.locale
    buyer = {"name": client.name, "address": client.address, "country": client.country, "vat_id": client.vat_id}
    html = document_environment(locale).get_template("documents/statement.html").render(
        statement=statement, client=client, buyer=buyer, seller=seller_details(_app_config(config)),
        month=lambda period: format_date(date_type.fromisoformat(period + "-01"), format="LLLL yyyy",
                                         locale=locale),
        **_formatters(locale, client.currency),
    )
    return render_pdf(html)


def _app_config(config):
    from .services.vendor import app_config

    return app_config() if config is None else config


def _formatters(locale: str, currency: str) -> dict:
    """The template's formatting helpers, all in ``locale``."""
    return {
        "locale": locale,
        "money": lambda minor: Money.from_minor(minor, currency).format(locale),
        "date": lambda day: format_date(day, format="long", locale=locale) if day else "",
        "short_date": lambda day: format_date(day, format="medium", locale=locale) if day else "",
        "number": lambda value: format_decimal(value, locale=locale),
        "rate": lambda value: format_decimal(Decimal(str(value)).normalize(), locale=locale),
        "hours": lambda minutes: _format_hours(minutes, locale),
        "country": lambda code: _country_name(code, locale),
        "postal": lambda address, code: postal_address(address, code, locale),
    }


def _country_name(code: str, locale: str) -> str:
    return Locale.parse(locale).territories.get(code or "", code or "")


def postal_address(address: str, code: str, locale: str) -> str:
    """The address with its country's name as the last line, unless the address already ends with it."""
    address = (address or "").strip()
    if not code:
        return address
    last = address.splitlines()[-1].strip().casefold() if address else ""
    names = {_country_name(code, locale), _country_name(code, "en"), code, *ALIASES.get(code, ())}
    if any(name.casefold() == last for name in names if name):
        return address
    return f"{address}\n{_country_name(code, locale)}" if address else _country_name(code, locale)


#: how addresses commonly end besides the country's name in the client's language or English
ALIASES = {"US": ("USA", "U.S.A."), "GB": ("UK",), "DE": ("Deutschland",), "CA": ("Canada",),
           "FR": ("France",), "AT": ("Österreich",), "CH": ("Schweiz", "Suisse")}


def logo_url(data: bytes | None, media_type: str = "", static_path: str = "") -> str:
    """The logo as a URL the locked fetcher loads: its bytes as a ``data:`` URL, else a static file."""
    if data and media_type in ("image/png", "image/jpeg", "image/svg+xml"):
        return _data_url(data, media_type)
    path = (STATIC / static_path).resolve() if static_path else None
    return path.as_uri() if path and path.is_relative_to(STATIC) and path.is_file() else ""


def seller_details(config, vendor=None) -> dict:
    """The seller as printed: the saved vendor profile, else the ``VENDOR_*`` config values."""
    if vendor is None:
        vendor = _saved_vendor(config)
    if vendor is not None:
        return {
            "name": vendor.legal_name, "address": vendor.address, "country": vendor.country,
            "vat_id": vendor.vat_id, "registration": vendor.registration, "email": vendor.email,
            "phone": vendor.phone, "iban": vendor.iban, "bic": vendor.bic, "account": vendor.bank_account,
            "logo": logo_url(vendor.logo, vendor.logo_type, config.get("VENDOR_LOGO", "documents/logo.svg")),
        }
    return {
        "name": config.get("VENDOR_NAME", ""), "address": config.get("VENDOR_ADDRESS", ""),
        "country": config.get("VENDOR_COUNTRY", ""), "vat_id": config.get("VENDOR_TAX_ID", ""),
        "logo": logo_url(None, "", config.get("VENDOR_LOGO", "documents/logo.svg")),
    }


def _saved_vendor(config):
    """The vendor profile row, when there is an app context with a database (none in plain renders)."""
    from flask import has_app_context

    if not has_app_context():
        return None
    from .extensions import db
    from .models import Vendor

    return db.session.get(Vendor, 1)


def invoice_context(invoice: Invoice, config) -> dict:
    """What ``documents/invoice.html`` reads: the seller, buyer, taxes and terms of the invoice's
    snapshot (:func:`services.einvoicing.snapshot_of`), the same values its e-invoice carries."""
    from .services.einvoicing import invoice_taxes, is_reverse_charge, snapshot_of
    from .services.vendor import UNNAMED_TAX

    printed = snapshot_of(invoice)
    kept, buyer = printed["seller"], printed["buyer"]
    seller = {"name": kept["legal_name"], "account": kept.get("bank_account", ""),
              "logo": seller_details(config)["logo"], **kept}
    reverse = is_reverse_charge(invoice)
    unit = exponent(invoice.currency)
    return {
        "invoice": invoice, "client": invoice.client, "seller": seller, "buyer": buyer,
        "taxes": [{"name": "" if tax.name == UNNAMED_TAX else tax.name, "rate": tax.rate, "amount_minor": int(tax.amount / unit),
                   "reverse_charge": reverse} for tax in invoice_taxes(invoice)],
        "payment": {"iban": seller.get("iban", ""), "bic": seller.get("bic", ""),
                    "account": seller["account"], "reference": invoice.number},
        "payment_terms_days": buyer["payment_terms_days"],
        "period_start": date_type.fromisoformat(printed["service_period"]["start"]),
        "period_end": date_type.fromisoformat(printed["service_period"]["end"]),
    }


def render_invoice_html(invoice: Invoice, config) -> str:
    """The HTML of an invoice or credit note with its usage statement, labelled in the client's language."""
    locale = invoice.client.locale
    monthly = invoice.statement.get("monthly", []) if invoice.statement else []
    first = date_type.fromisoformat(invoice.period + "-01")
    catalogue = translations(locale)
    return document_environment(locale).get_template("documents/invoice.html").render(
        period_label=format_date(first, format="LLLL yyyy", locale=locale),
        chart=bar_chart(
            [(format_date(date_type.fromisoformat(m["month"] + "-01"), "MMM", locale=locale), m["incidents"])
             for m in monthly],
            title=catalogue.gettext("Incidents used per month"),
        ),
        **invoice_context(invoice, config),
        **_formatters(locale, invoice.currency),
    )


def render_invoice_pdf(invoice: Invoice, config) -> bytes:
    """The archived invoice or credit note: PDF/A-3b in the client's language, its Factur-X XML embedded."""
    from .services.einvoicing import invoice_xml

    title = f"{'Credit note' if invoice.kind == 'credit_note' else 'Invoice'} {invoice.number}"
    return render_facturx_pdf(render_invoice_html(invoice, config), invoice_xml(invoice), invoice.issued_on, title)


def _format_hours(minutes: int, locale: str) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{format_decimal(hours, locale=locale)} h {rest:02d}" if rest else f"{format_decimal(hours, locale=locale)} h"


# --- PDF/A-3b with the embedded e-invoice (Factur-X / ZUGFeRD) ---------------------

#: the Factur-X XMP properties and the PDF/A extension schema that declares them (Factur-X 1.0, §6)
FACTURX_XMP = """<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
<fx:DocumentType>INVOICE</fx:DocumentType>
<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>
<fx:Version>1.0</fx:Version>
<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
 xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property><rdf:Seq>
""" + "".join(
    f"""<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>
<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category>
<pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>
"""
    for name, description in (
        ("DocumentFileName", "name of the embedded XML invoice file"),
        ("DocumentType", "INVOICE"),
        ("Version", "The actual version of the Factur-X XML schema"),
        ("ConformanceLevel", "The conformance level of the embedded Factur-X data"),
    )
) + """</rdf:Seq></pdfaSchema:property>
</rdf:li></rdf:Bag></pdfaExtension:schemas>
</rdf:Description>
</rdf:RDF>"""


def _data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def render_facturx_pdf(html: str, xml: bytes, issued_on: date_type, title: str = "") -> bytes:
    """``html`` as PDF/A-3b with ``xml`` embedded as ``factur-x.xml`` (relationship Alternative).

    The bytes depend only on the inputs: every date in the file is ``issued_on`` at midnight
    UTC and the file identifier is a hash of the content, so the archived SHA-256 is stable.
    """
    fetcher = LockedFetcher()
    stamp = datetime.combine(issued_on, time(0, 0), tzinfo=UTC)
    document = render_document(html)
    document.metadata.created = document.metadata.modified = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    if title:
        document.metadata.title = title
    invoice_xml = Attachment(
        url=_data_url(xml, "text/xml"), url_fetcher=fetcher, name="factur-x.xml",
        description="Factur-X / ZUGFeRD invoice, EN 16931 profile", relationship="Alternative",
        created=stamp.replace(tzinfo=None), modified=stamp.replace(tzinfo=None),
    )
    with warnings.catch_warnings():
        # WeasyPrint opens its sRGB output-intent profile for PDF/A and never closes it
        warnings.filterwarnings("ignore", r"unclosed file .*sRGB2014\.icc", ResourceWarning)
        return document.write_pdf(
            pdf_variant="pdf/a-3b", attachments=[invoice_xml],
            xmp_metadata=[_data_url(FACTURX_XMP.encode("utf-8"), "application/rdf+xml")],
        )
