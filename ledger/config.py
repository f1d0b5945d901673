"""Configuration: defaults, then ``instance/config.py``, then ``LEDGER_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .storage import AlreadyStored, FolderStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: environment variables read into the Flask config, with their config keys
ENVIRONMENT = {
    "LEDGER_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "LEDGER_INVOICE_DIR": "INVOICE_DIR",
    "LEDGER_SECRET_KEY": "SECRET_KEY",
    "LEDGER_CURRENCY": "HOME_CURRENCY",
    "LEDGER_MAIL_URL": "MAIL_URL",
    "LEDGER_PUBLIC_URL": "PUBLIC_URL",
    "LEDGER_ARCHIVE_URL": "ARCHIVE_URL",
    "LEDGER_S3_ENDPOINT": "S3_ENDPOINT",
}

#: the largest request body accepted, in bytes
MAX_BODY_BYTES = 1024 * 1024


def defaults(instance_path: Path) -> dict:
    """Settings that hold unless instance/config.py or the environment says otherwise."""
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance_path / 'ledger.sqlite3'}",
        "INVOICE_DIR": str(PROJECT_ROOT / "invoices"),
        #: the invoice archive: empty for the folder INVOICE_DIR, or s3://BUCKET/PREFIX at S3_ENDPOINT
        "ARCHIVE_URL": "",
        "S3_ENDPOINT": "",
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "JSON_SORT_KEYS": False,
        "VENDOR_NAME": "Support Ledger Demo Vendor",
        #: the currency of the seed rate card that ``ledger init`` creates
        "HOME_CURRENCY": "USD",
        #: where the outbox sends: file://PATH (relative to the instance folder) or smtp://USER:PASSWORD@HOST:PORT
        "MAIL_URL": "file://instance/outbox",
        #: where clients reach the app: links in e-mails start with it
        "PUBLIC_URL": "http://127.0.0.1:5000",
    }


def from_environment() -> dict:
    """The ``LEDGER_*`` variables that are set, under their config keys."""
    return {key: os.environ[var] for var, key in ENVIRONMENT.items() if os.environ.get(var)}


def instance_secret_key(instance_path: Path) -> str:
    """The secret key kept in ``instance/secret_key``, generated on first use."""
    path = instance_path / "secret_key"
    if not path.exists():
        try:  # written once (owner-only, like every draft): parallel workers agree on one key
            FolderStore(instance_path).put_once(path.name, secrets.token_hex(32).encode())
        except AlreadyStored:
            pass
    return path.read_text().strip()
