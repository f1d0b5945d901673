"""The invoice PDF: what the client reads, the archive it is kept in, and what it never fetches.

The March of ``test_invoicing.bill_march`` is issued, then downloaded through the API as
finance: the first download renders and archives the PDF, every later one returns the
archived bytes. Text is compared after pypdf extraction with runs of white space (no-break
spaces too) made one space, since table cells wrap.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa

from ledger.models import InvoiceDocument
from ledger.services.support import log_technician_response, open_case, waive
from tests.helpers import (
    LEAK,
    MARCH_TAXES,
    RENEWS_IN_MARCH,
    CountingServer,
    at,
    bill_march,
    client_named,
    issue,
    make_march_client,
    pdf_text,
)

NUMBER = "INV-2026-00001"


def pdf_images(data: bytes) -> int:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return sum(len(page.images) for page in reader.pages)


def squeezed(text: str) -> str:
    """``text`` without any white space: a long value may wrap anywhere in a table cell."""
    return re.sub(r"\s+", "", text)


@pytest.fixture
def finance(api, make_token):
    return api.as_(make_token("finance"))


def download(as_user, number: str) -> bytes:
    response = as_user.get(f"/invoices/{number}/pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    return response.data


def issued_march(session, make_client, currency="USD", locale="en_US", rate="8.25", **overrides) -> None:
    make_march_client(make_client, "ACME", currency, locale, rate, **overrides)
    bill_march(session, "ACME")
    assert issue(session)[0] == [NUMBER]


# --- what the client reads -----------------------------------------------------------

#: (currency, locale, rate) → what the first page says, in the client's locale
PRINTED = {
    "USD": [
        "Invoice INV-2026-00001", "Service period Mar 1, 2026 – Mar 31, 2026", "Issue date April 1, 2026",
        "Due date May 1, 2026", "Payable within 30 days, by May 1, 2026.",
        "Service & Support Incidents: bundle of 10, purchased 2026-03-02 10 $200.00 $2,000.00",
        "Project Coordinator / Business Analyst: 12.25 hours (quote Q-2026-00001) 12.25 $150.00 $1,837.50",
        "Volume discount 5 % (quote Q-2026-00001) 1 -$341.88 -$341.88",
        "Annual software maintenance, 2026-03-01 to 2027-02-28 1 $1,200.00 $1,200.00",
        "Incident overage: 2 beyond the balance 2 $250.00 $500.00",
        "Implementation Specialist / Consultant: 1 h 45 min beyond prepaid hours 1.75 $125.00 $218.75",
        "Subtotal (net) $10,564.37", "Tax 8.25 % $871.56", "Total due $11,435.93",
    ],
    "EUR": [
        "Rechnung INV-2026-00001", "Leistungszeitraum 01.03.2026 – 31.03.2026", "Rechnungsdatum 1. April 2026",
        "Fällig am 1. Mai 2026", "Zahlbar innerhalb von 30 Tagen, bis zum 1. Mai 2026.",
        "Service & Support Incidents: bundle of 10, purchased 2026-03-02 10 200,00 € 2.000,00 €",
        "Project Coordinator / Business Analyst: 12.25 hours (quote Q-2026-00001) 12,25 150,00 € 1.837,50 €",
        "Volume discount 5 % (quote Q-2026-00001) 1 -341,88 € -341,88 €",
        "Annual software maintenance, 2026-03-01 to 2027-02-28 1 1.200,00 € 1.200,00 €",
        "Incident overage: 2 beyond the balance 2 250,00 € 500,00 €",
        "Implementation Specialist / Consultant: 1 h 45 min beyond prepaid hours 1,75 125,00 € 218,75 €",
        "Zwischensumme (netto) 10.564,37 €", "Steuer 19 % 2.007,23 €", "Gesamtbetrag 12.571,60 €",
    ],
}


@pytest.mark.parametrize(("currency", "locale", "rate"), [row[:3] for row in MARCH_TAXES],
                         ids=[row[1] for row in MARCH_TAXES])
def test_the_pdf_shows_number_lines_and_totals_in_the_clients_locale_with_page_numbers(
    session, make_client, rate_card, finance, currency, locale, rate
):
    issued_march(session, make_client, currency, locale, rate)

    data = download(finance, NUMBER)

    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    missing = [phrase for phrase in PRINTED[currency] if phrase not in text]
    assert missing == []
    page, of = ("Seite", "von") if locale == "de_DE" else ("Page", "of")
    assert f"{page} 1 {of} 2" in text and f"{page} 2 {of} 2" in text


def test_the_usage_statement_shows_balances_each_charge_movements_and_prepaid_hours(
    session, make_client, rate_card, finance
):
    issued_march(session, make_client)

    text = pdf_text(download(finance, NUMBER))

    statement = text[text.index("Usage statement, March 2026"):]
    for phrase in [
        "Incidents available on March 1, 2026 (opening) 0",
        "Incidents available on March 31, 2026 (closing) 0",
        "Incidents beyond the balance this term (overage) 2",
        "March 5, 2026 C-000001",
        "appointment 14:00–15:40, 100 min = 4 incidents 4",
        "March 2, 2026 bundle of 10 incidents 10",
        "Programmer Analyst / Developer 0 h 40 h",
        "Implementation Specialist / Consultant 1 h 45 0 h",
    ]:
        assert phrase in statement
    assert statement.count("appointment 14:00–15:40, 100 min = 4 incidents") == 3


def test_each_charge_in_the_usage_statement_names_its_cases_subject(session, make_client, rate_card,
                                                                   finance):
    """SPEC.md: each charge shows its case; the statement keeps the subject, the PDF should print it."""
    issued_march(session, make_client)

    text = pdf_text(download(finance, NUMBER))

    assert "C-000001 Mail server down appointment 14:00–15:40" in text


# --- the archive: the same bytes every time, or a refusal -----------------------------


def archived(app, session) -> tuple[Path, str]:
    """The archived file of the first invoice and the SHA-256 the database keeps for it."""
    document = session.scalar(sa.select(InvoiceDocument))
    return Path(app.config["INVOICE_DIR"]) / document.path, document.sha256


def test_every_download_returns_the_archived_bytes_whose_hash_the_invoice_shows(
    app, session, make_client, rate_card, finance
):
    issued_march(session, make_client)
    issued_hash = finance.get(f"/invoices/{NUMBER}").get_json()["sha256"]  # archived by the run

    first = download(finance, NUMBER)
    again = [download(finance, NUMBER) for _ in range(2)]

    assert again == [first, first]
    path, sha256 = archived(app, session)
    assert path == Path(app.config["INVOICE_DIR"]) / "2026" / f"{NUMBER}.pdf"
    assert path.read_bytes() == first
    assert sha256 == hashlib.sha256(first).hexdigest()
    assert finance.get(f"/invoices/{NUMBER}").get_json()["sha256"] == sha256 == issued_hash
    assert session.scalar(sa.select(sa.func.count()).select_from(InvoiceDocument)) == 1


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.unsound_books  # it damages the archived PDF on purpose
@pytest.mark.parametrize("damage", [
    flip_a_byte,
    lambda path: path.write_bytes(path.read_bytes()[:-100]),
    lambda path: path.unlink(),
], ids=["one byte changed", "truncated", "deleted"])
def test_a_damaged_archive_file_is_refused_not_served_or_silently_replaced(
    app, session, make_client, rate_card, finance, damage
):
    issued_march(session, make_client)
    original = download(finance, NUMBER)
    path, sha256 = archived(app, session)
    damage(path)
    damaged = path.read_bytes() if path.exists() else None
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise into the test

    response = finance.get(f"/invoices/{NUMBER}/pdf")

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert set(response.get_json()["error"]) >= {"code", "message"}
    assert (path.read_bytes() if path.exists() else None) == damaged  # left as found, for a person
    assert archived(app, session)[1] == sha256 == hashlib.sha256(original).hexdigest()


# --- user-entered text is text: nothing is fetched -------------------------------------


@pytest.fixture
def listener():
    """A server on 127.0.0.1 that counts every connection made to it."""
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def leaky_css(tmp_path) -> Path:
    """A stylesheet outside the project's static files that would print LEAK on the page."""
    css = tmp_path / "leak.css"
    css.write_text(f'body::after {{ content: "{LEAK}"; }}')
    return css


def hostile_texts(port: int, css: Path) -> dict[str, str]:
    """Each user-entered field holds markup and URLs: loopback, file://, a local stylesheet."""
    return {
        "client name": f'<img src="http://127.0.0.1:{port}/name.png"> Evil Corp',
        "address": f'<link rel="stylesheet" href="{css.as_uri()}"> 1 file:///etc/passwd Lane',
        "case subject": f'<img src="file:///etc/hostname"> down http://127.0.0.1:{port}/subject',
        "technician": f'<img src="http://127.0.0.1:{port}/tech.png">',
        "waiver reason": f'<style>@import url(http://127.0.0.1:{port}/w.css);</style> site down',
        "credit-note reason": f'<iframe src="file:///etc/passwd"></iframe> url({css.as_uri()})',
    }


def test_urls_in_user_entered_text_are_printed_literally_and_never_fetched(
    session, make_client, rate_card, finance, listener, leaky_css
):
    texts = hostile_texts(listener.port, leaky_css)
    make_client("EVIL", name=texts["client name"], address=texts["address"],
                term_start=RENEWS_IN_MARCH, maintenance_fee="100.00")
    client = client_named(session, "EVIL")
    case = open_case(session, client, texts["case subject"], "critical", at(5, 9))
    waived = log_technician_response(session, case, at(5, 10), texts["technician"])
    waive(session, waived, texts["waiver reason"])
    session.commit()
    assert issue(session)[0] == [NUMBER]
    note = finance.post(f"/invoices/{NUMBER}/credit-notes", {"reason": texts["credit-note reason"]})
    assert note.status_code == 201, note.get_json()

    invoice_pdf = download(finance, NUMBER)
    note_pdf = download(finance, note.get_json()["number"])

    assert listener.connections == 0
    printed = squeezed(pdf_text(invoice_pdf) + pdf_text(note_pdf))
    assert LEAK not in printed and "root:" not in printed
    assert pdf_images(invoice_pdf) == pdf_images(note_pdf) == 0
    missing = [field for field, text in texts.items() if squeezed(text) not in printed]
    assert missing == []


def test_a_credit_note_pdf_names_the_invoice_it_corrects_and_shows_negative_amounts(
    session, make_client, rate_card, finance
):
    issued_march(session, make_client)
    note = finance.post(f"/invoices/{NUMBER}/credit-notes", {"reason": "overage billed twice", "lines": [6]})
    assert note.status_code == 201, note.get_json()

    text = pdf_text(download(finance, note.get_json()["number"]))

    assert "Credit note CN-2026-00001" in text
    assert "This credit note corrects invoice INV-2026-00001 of April 1, 2026. Reason: overage billed twice" in text
    assert "Credit: Incident overage: 2 beyond the balance 2 -$250.00 -$500.00" in text
    assert "Tax 8.25 % -$41.25" in text and "Total credited -$541.25" in text
    assert "Due" not in text.split("Usage statement")[0]
