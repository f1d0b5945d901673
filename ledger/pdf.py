"""HTML → PDF with WeasyPrint, loading nothing but ``data:`` URLs and the project's own static files."""

from __future__ import annotations

import base64
import logging
import warnings
from datetime import date as date_type
from datetime import datetime, time, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import render_template
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher

from .billing import POLICY, quote_state_on
from .charts import bar_chart
from .models import Invoice, Quote
from .money import Money

log = logging.getLogger(__name__)
STATIC = (Path(__file__).resolve().parent / "static").resolve()


class LockedFetcher(URLFetcher):
    """Fetches ``data:`` URLs and files under ``ledger/static``; refuses everything else.

    User-entered text ends up in documents, so a ``file://`` or ``http://`` URL in it
    must never make the renderer read a file or open a connection.
    """

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file" and _is_static(url):
            return super().fetch(url, headers)
        log.warning("document renderer refused to load %s", url[:200])
        raise ValueError(f"refused to load {url[:200]}")


def _is_static(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parsed.path)).resolve()
    return path.is_relative_to(STATIC) and path.is_file()


def render_pdf(html: str) -> bytes:
    """Render ``html`` to PDF bytes; relative URLs resolve inside ``ledger/static``."""
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LockedFetcher())
    return document.write_pdf()


def stylesheet_url() -> str:
    """The documents' stylesheet, as a URL the locked fetcher allows."""
    return (STATIC / "documents" / "print.css").as_uri()


def render_quote_pdf(quote: Quote, today) -> bytes:
    """The quote the client receives: lines, discount and total in the client's locale."""
    client = quote.client
    locale = client.locale
    money = lambda minor: Money.from_minor(minor, quote.currency).format(locale)  # noqa: E731
    titles = {role.code: role.title for role in quote.rate_card.roles}
    html = render_template(
        "documents/quote.html",
        quote=quote,
        client=client,
        state=quote_state_on(quote.state, quote.valid_until, today),
        titles=titles,
        money=money,
        date=lambda day: format_date(day, format="long", locale=locale),
        number=lambda value: _format_number(value, locale),
        stylesheet=stylesheet_url(),
        increment=POLICY.work_billing_increment_minutes,
    )
    return render_pdf(html)


def _format_number(value, locale: str) -> str:
    return format_decimal(value, locale=locale)


def _vendor(config) -> dict:
    logo = config.get("VENDOR_LOGO", "documents/logo.svg")
    path = (STATIC / logo).resolve() if logo else None
    return {
        "name": config.get("VENDOR_NAME", ""),
        "address": config.get("VENDOR_ADDRESS", ""),
        "tax_id": config.get("VENDOR_TAX_ID", ""),
        "logo": path.as_uri() if path and path.is_relative_to(STATIC) and path.is_file() else "",
    }


def render_invoice_pdf(invoice: Invoice, config) -> bytes:
    """The archived invoice or credit note: PDF/A-3b with its usage statement, in the client's locale,
    its Factur-X XML embedded; everything it names comes from the invoice's snapshot."""
    from .services.einvoicing import invoice_taxes, invoice_xml, is_reverse_charge, snapshot_of

    client = invoice.client
    locale = client.locale
    monthly = invoice.statement.get("monthly", []) if invoice.statement else []
    first = date_type.fromisoformat(invoice.period + "-01")
    printed = snapshot_of(invoice)
    seller = printed["seller"]
    html = render_template(
        "documents/invoice.html",
        invoice=invoice,
        client=client,
        vendor={**_vendor(config), "name": seller["legal_name"], "address": seller["address"],
                "tax_id": seller["vat_id"]},
        seller=seller,
        buyer=printed["buyer"],
        taxes=[{"name": tax.name, "rate": tax.rate, "minor": Money(tax.amount, invoice.currency).minor}
               for tax in invoice_taxes(invoice)],
        notes=printed.get("notes", []),
        reverse_charge=is_reverse_charge(invoice),
        payment_terms_days=printed["buyer"]["payment_terms_days"],
        period_label=format_date(first, format="LLLL yyyy", locale=locale),
        money=lambda minor: Money.from_minor(minor, invoice.currency).format(locale),
        date=lambda day: format_date(day, format="long", locale=locale),
        number=lambda value: _format_number(value, locale),
        hours=lambda minutes: _format_hours(minutes, locale),
        chart=bar_chart(
            [(format_date(date_type.fromisoformat(m["month"] + "-01"), "MMM", locale=locale), m["incidents"])
             for m in monthly],
            title="Incidents used per month",
        ),
        stylesheet=stylesheet_url(),
    )
    title = f"{'Credit note' if invoice.kind == 'credit_note' else 'Invoice'} {invoice.number}"
    return render_facturx_pdf(html, invoice_xml(invoice), invoice.issued_on, title)


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
    stamp = datetime.combine(issued_on, time(0, 0), tzinfo=timezone.utc)
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=fetcher).render()
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
