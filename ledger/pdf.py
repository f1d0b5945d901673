"""HTML → PDF with WeasyPrint, loading nothing but ``data:`` URLs and the project's own static files."""

from __future__ import annotations

import logging
from datetime import date as date_type
from pathlib import Path
from urllib.parse import unquote, urlparse

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import render_template
from weasyprint import HTML
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
    """An invoice or credit note with its usage statement, in the client's locale."""
    client = invoice.client
    locale = client.locale
    monthly = invoice.statement.get("monthly", []) if invoice.statement else []
    first = date_type.fromisoformat(invoice.period + "-01")
    html = render_template(
        "documents/invoice.html",
        invoice=invoice,
        client=client,
        vendor=_vendor(config),
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
    return render_pdf(html)


def _format_hours(minutes: int, locale: str) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{format_decimal(hours, locale=locale)} h {rest:02d}" if rest else f"{format_decimal(hours, locale=locale)} h"
