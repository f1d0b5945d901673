"""The quote PDF: it opens, reads in the client's locale, and the renderer fetches nothing.

A tiny HTTP server on 127.0.0.1 counts every connection made to it; a control test
shows that WeasyPrint *without* the locked fetcher would connect to it and read local
files, so zero connections and no leaked text mean the lock worked.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest

from ledger.pdf import STATIC, render_pdf
from tests.helpers import LEAK, CountingServer, png

LINES = [
    {"role": "analyst", "unit": "day", "quantity": "2"},
    {"role": "developer", "unit": "hour", "quantity": "40"},
]


@pytest.fixture
def listener():
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def local_files(tmp_path) -> dict[str, Path]:
    """A stylesheet that would print LEAK, and an image, outside the project's static files."""
    css = tmp_path / "leak.css"
    css.write_text(f'body::after {{ content: "{LEAK}"; }}')
    image = tmp_path / "secret.png"
    image.write_bytes(png())
    return {"css": css, "image": image}


def pdf_text(data: bytes) -> str:
    """All pages' text, every run of white space (no-break spaces too) made one space."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def pdf_images(data: bytes) -> int:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return sum(len(page.images) for page in reader.pages)


def hostile_html(port: int, files: dict[str, Path]) -> str:
    return f"""<!doctype html><html><head>
<style>
@import url(file:///etc/passwd);
@import url({files["css"].as_uri()});
@import url(http://127.0.0.1:{port}/style.css);
</style>
<link rel="stylesheet" href="http://127.0.0.1:{port}/linked.css">
<link rel="stylesheet" href="{files["css"].as_uri()}">
</head><body>
<p>Visible body text</p>
<img src="http://127.0.0.1:{port}/x">
<img src="file:///etc/hostname">
<img src="{files["image"].as_uri()}">
<div style="background: url(http://127.0.0.1:{port}/bg.png)">background</div>
</body></html>"""


def quote_pdf(api, code: str, send: bool = False) -> tuple[str, bytes]:
    valid_until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    created = api.post(f"/clients/{code}/quotes", {"lines": LINES, "valid_until": valid_until})
    assert created.status_code == 201, created.get_json()
    number = created.get_json()["number"]
    if send:
        assert api.post(f"/quotes/{number}/send").status_code == 200
    response = api.get(f"/quotes/{number}/pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    return number, response.data


# --- what the client reads -----------------------------------------------------------


@pytest.mark.parametrize(("currency", "locale", "amounts"), [
    ("USD", "en_US", {
        "quote": "Quote", "days": "days", "hours": "hours", "subtotal_hours": "Subtotal (56 hours)",
        "discount_label": "Volume discount 5 %", "total_label": "Total",
        "analyst_day": "$1,200.00", "analyst": "$2,400.00", "developer_hour": "$125.00",
        "developer": "$5,000.00", "subtotal": "$7,400.00", "discount": "$370.00",
        "total": "$7,030.00",
    }),
    ("EUR", "de_DE", {
        "quote": "Angebot", "days": "Tage", "hours": "Stunden", "subtotal_hours": "Zwischensumme (56 Stunden)",
        "discount_label": "Mengenrabatt 5 %", "total_label": "Gesamt",
        "analyst_day": "1.200,00 €", "analyst": "2.400,00 €", "developer_hour": "125,00 €",
        "developer": "5.000,00 €", "subtotal": "7.400,00 €", "discount": "370,00 €",
        "total": "7.030,00 €",
    }),
])
def test_the_quote_pdf_shows_lines_discount_and_total_in_the_clients_locale(
    api, make_client, rate_card, currency, locale, amounts
):
    make_client("PDF", currency=currency, locale=locale)

    number, data = quote_pdf(api, "PDF")

    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert f"{amounts['quote']} {number}" in text
    analyst = f"{amounts['analyst_day']} {amounts['analyst']}"
    developer = f"{amounts['developer_hour']} {amounts['developer']}"
    assert f"Project Coordinator / Business Analyst 2 {amounts['days']} {analyst}" in text
    assert f"Programmer Analyst / Developer 40 {amounts['hours']} {developer}" in text
    assert f"{amounts['subtotal_hours']} {amounts['subtotal']}" in text
    assert f"{amounts['discount_label']} −{amounts['discount']}" in text
    assert f"{amounts['total_label']} {amounts['total']}" in text


def test_a_quote_below_the_first_tier_shows_no_discount_line(api, make_client, rate_card):
    make_client("SMALL")
    valid_until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    lines = [{"role": "consultant", "unit": "hour", "quantity": "6"}]
    created = api.post("/clients/SMALL/quotes", {"lines": lines, "valid_until": valid_until})
    number = created.get_json()["number"]

    text = pdf_text(api.get(f"/quotes/{number}/pdf").data)

    assert "Volume discount" not in text
    assert "Total $750.00" in text


def test_a_client_user_downloads_its_sent_quote_but_not_a_draft_or_another_clients(
    api, make_token, make_client, rate_card
):
    make_client("MINE")
    make_client("THEIRS")
    sent, _ = quote_pdf(api, "MINE", send=True)
    draft, _ = quote_pdf(api, "MINE")
    theirs, _ = quote_pdf(api, "THEIRS", send=True)
    portal = api.as_(make_token("client", "MINE"))

    mine = portal.get(f"/quotes/{sent}/pdf")

    assert mine.status_code == 200
    assert f"Quote {sent}" in pdf_text(mine.data)
    assert portal.get(f"/quotes/{draft}/pdf").status_code == 404
    assert portal.get(f"/quotes/{theirs}/pdf").status_code == 404


# --- nothing is fetched --------------------------------------------------------------


def test_html_in_a_clients_name_and_address_prints_as_text_and_fetches_nothing(
    api, make_client, rate_card, listener, local_files
):
    name = f'<img src="http://127.0.0.1:{listener.port}/x">'
    address = (f'<link rel=stylesheet href="file:///etc/passwd"> '
               f'<link rel=stylesheet href="{local_files["css"].as_uri()}"> '
               f'<img src="{local_files["image"].as_uri()}">')
    make_client("EVIL", name=name, address=address)

    _, data = quote_pdf(api, "EVIL")

    text = pdf_text(data)
    assert listener.connections == 0
    assert name in text
    assert '<link rel=stylesheet href="file:///etc/passwd">' in text
    assert LEAK not in text
    assert "root:" not in text
    assert pdf_images(data) == 0


def test_the_renderer_refuses_network_and_local_files_outside_static(listener, local_files, caplog):
    data = render_pdf(hostile_html(listener.port, local_files))

    text = pdf_text(data)
    assert "Visible body text" in text
    assert listener.connections == 0
    assert len(refusals(caplog)) >= 7
    assert LEAK not in text
    assert "root:" not in text
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    if hostname:
        assert hostname not in text
    assert pdf_images(data) == 0


def test_without_the_locked_fetcher_the_same_html_would_connect_and_leak(listener, local_files):
    """The control: proves the counting server and the leak markers can see a fetch."""
    from weasyprint import HTML

    html = hostile_html(listener.port, local_files)

    data = HTML(string=html, base_url=STATIC.as_uri() + "/").write_pdf()

    assert listener.connections > 0
    assert LEAK in pdf_text(data)
    assert pdf_images(data) > 0


def test_a_data_url_image_is_rendered(caplog):
    encoded = base64.b64encode(png()).decode()

    data = render_pdf(f'<p>Logo</p><img src="data:image/png;base64,{encoded}">')

    assert pdf_images(data) == 1
    assert refusals(caplog) == []


def test_the_projects_own_stylesheet_is_loaded_and_a_sibling_path_is_not(caplog):
    css = STATIC / "documents" / "print.css"
    outside = STATIC.parent / "pdf.py"  # inside the package, but not a static asset

    render_pdf(f'<link rel="stylesheet" href="{css.as_uri()}">'
               f'<link rel="stylesheet" href="{outside.as_uri()}"><p>Styled</p>')

    assert refusals(caplog) == [f"document renderer refused to load {outside.as_uri()}"]


def refusals(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "ledger.pdf" and "refused" in record.getMessage()]
