"""`make run` leaves the demo's messages as .eml files in instance/outbox/: the invoices it issues (each
with its PDF), the quotes it sends and its reminders, each to the demo client's billing e-mails."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.cli import main as ledger_command
from tests.helpers import pdf_text

#: loads the whole demo and renders its invoices: left out of the fast loop
pytestmark = pytest.mark.slow


def run(app, *args: str):
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "LEDGER_SECRET_KEY": "t",
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], "LEDGER_PUBLIC_URL": "http://127.0.0.1:8123"}
    result = CliRunner().invoke(ledger_command, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_demo_and_mail_send_leave_eml_files_with_the_invoices_pdfs_in_the_instance_outbox(app):
    printed = run(app, "demo", "--today", "2026-11-20")
    run(app, "mail", "send")

    outbox = Path(app.instance_path) / "outbox"
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(outbox.glob("*.eml"))]
    by_subject = {message["Subject"]: message for message in messages}
    assert f"e-mail: {len(messages)} message(s) sent" in printed
    invoices = [m for m in messages if any(part.get_filename() and part.get_filename().endswith(".pdf")
                                           for part in m.iter_attachments())]
    assert len(invoices) >= 3  # each client's billable months of the last three
    pdf = next(part for part in invoices[0].iter_attachments() if part.get_filename().endswith(".pdf"))
    assert pdf.get_content()[:5] == b"%PDF-" and invoices[0]["Subject"].split()[1] in pdf_text(pdf.get_content())
    assert {m["To"] for m in invoices} == {"ap@acme.example.com", "rechnung@brau.example.com",
                                          "comptes@nord.example.com"}
    quotes = [m for s, m in by_subject.items() if s.startswith(("Quote ", "Angebot ", "Soumission "))]
    assert len(quotes) >= 3
    assert all("http://127.0.0.1:8123/portal/quotes#Q-" in m.get_content() for m in quotes)
