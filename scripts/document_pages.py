"""Render the three demo clients' invoices (and one credit note) and write their pages as PNGs to look at.

    .venv/bin/python scripts/document_pages.py [OUT]     (default: test-artifacts/documents)

A fresh SQLite database gets the demo, a complete vendor profile (logo given as bytes) and each
client's billing details (ACME en_US, BRAU de_DE with VAT 19 %, NORD fr_CA with GST + QST); last
month is run through ``batch.run``. Each archived PDF is copied out and ``pdftoppm`` draws its pages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: the vendor profile and the demo clients' billing details the pages are drawn with
VENDOR = {
    "legal_name": "Support Ledger Demo Vendor GmbH", "address": "Friedrichstraße 100\n10117 Berlin",
    "country": "DE", "vat_id": "DE136695976", "registration": "HRB 123456 B, Amtsgericht Charlottenburg",
    "iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "email": "billing@vendor.example.com",
    "phone": "+49 30 1234567",
}
BILLING = {
    "ACME": {"country": "US", "payment_terms_days": 30, "purchase_order": "PO-7731"},
    "BRAU": {"country": "DE", "vat_id": "DE811907980", "taxes": [{"name": "MwSt.", "rate": "19"}]},
    "NORD": {"country": "CA", "payment_terms_days": 45,
             "taxes": [{"name": "TPS", "rate": "5"}, {"name": "TVQ", "rate": "9.975"}]},
}


def demo_invoices(app, today: date) -> list:
    """Load the demo into ``app``'s empty database, complete the billing details, run last month."""
    from ledger import batch, billing
    from ledger.demo import load_demo
    from ledger.extensions import db
    from ledger.models import Client, Invoice
    from ledger.services import vendor

    session = db.session
    load_demo(session, today)
    logo = (ROOT / "ledger" / "static" / "documents" / "logo.svg").read_bytes()
    vendor.update_vendor(session, app.config, **VENDOR, logo=logo)
    for code, fields in BILLING.items():
        client = session.query(Client).filter_by(code=code).one()
        vendor.set_client_billing(session, client, **fields)
    session.commit()
    last_month = billing.Period.containing(today.replace(day=1) - timedelta(days=1))
    batch.run(app, last_month, today)
    session.expire_all()
    return session.query(Invoice).order_by(Invoice.number).all()


def main(out: Path) -> list[Path]:
    """Write ``<number>-<page>.png`` for every demo invoice into ``out``; return the files."""
    from ledger import create_app
    from ledger.migrate import upgrade

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ledger-pages-") as folder:
        os.environ["LEDGER_INSTANCE_PATH"] = str(Path(folder) / "instance")
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/pages.sqlite3", "SECRET_KEY": "pages",
                          "INVOICE_DIR": str(Path(folder) / "invoices")})
        with app.app_context():
            upgrade()
            invoices = demo_invoices(app, date(2026, 11, 2))
            written = []
            for invoice in invoices:
                pdf = out / f"{invoice.number}-{invoice.client.code}.pdf"
                shutil.copyfile(Path(app.config["INVOICE_DIR"]) / invoice.document.path, pdf)
                subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(pdf.with_suffix(""))], check=True)
                written += sorted(out.glob(f"{pdf.stem}-*.png"))
            return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "test-artifacts" / "documents")):
        print(path)
