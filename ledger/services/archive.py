"""The invoice archive: each PDF written once, atomically, under its year; its SHA-256 kept and checked."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import LedgerError
from ..models import Invoice, InvoiceDocument


class ArchiveDamaged(LedgerError):
    """An archived PDF is missing or no longer matches its recorded hash: restore it from a backup."""

    status = 500
    code = "archive_damaged"


@dataclass(frozen=True)
class Rendered:
    """A PDF written to the archive, not yet recorded in the database."""

    invoice_id: int
    path: str
    sha256: str
    size: int


def relative_path(invoice: Invoice) -> str:
    """Where the invoice's PDF lives under the archive: ``2026/INV-2026-00042.pdf``."""
    return f"{invoice.issued_on.year}/{invoice.number}.pdf"


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A hidden draft beside ``target`` to write: on success it replaces ``target`` whole, synced to disk,
    so a reader sees the whole file or none; on failure it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    draft = Path(name)
    try:
        yield draft
        with open(draft, "rb") as written:
            os.fsync(written.fileno())
        os.replace(draft, target)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_atomically(archive: Path, relative: str, data: bytes) -> tuple[str, int]:
    """Write ``data`` to ``archive/relative`` atomically; return its hash and size."""
    with atomic_file(archive / relative) as draft:
        draft.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def render_to_archive(invoice: Invoice, archive: Path, config) -> Rendered:
    """Render the invoice's PDF and write it to the archive (the database is not touched)."""
    from ..pdf import render_invoice_pdf

    relative = relative_path(invoice)
    digest, size = write_atomically(archive, relative, render_invoice_pdf(invoice, config))
    return Rendered(invoice.id, relative, digest, size)


def record(session: Session, rendered: Rendered) -> InvoiceDocument:
    """Record a rendered PDF; the first record wins and is never replaced."""
    document = InvoiceDocument(invoice_id=rendered.invoice_id, path=rendered.path,
                               sha256=rendered.sha256, size=rendered.size)
    session.add(document)
    session.flush()
    return document


def unrendered(session: Session) -> list[int]:
    """Ids of issued documents whose PDF is not archived yet, oldest first."""
    have = select(InvoiceDocument.invoice_id)
    return list(session.scalars(select(Invoice.id).where(Invoice.id.not_in(have)).order_by(Invoice.id)))


def archive_now(session: Session, invoice: Invoice, config) -> InvoiceDocument:
    """Render ``invoice``'s PDF into the archive of ``config`` and record it in this transaction."""
    return record(session, render_to_archive(invoice, Path(config["INVOICE_DIR"]), config))


def read_pdf(session: Session, invoice: Invoice, archive: Path, config=None) -> bytes:
    """The archived PDF, byte for byte. Only reads: a document is archived when it is issued.

    Raises :class:`ArchiveDamaged` when the PDF is missing (never archived, or lost) or no
    longer matches its recorded hash.
    """
    document = session.scalar(select(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice.id))
    if document is None:
        raise ArchiveDamaged(f"the PDF of {invoice.number} has not been archived; run `ledger invoices run` "
                             "for its month, which archives every PDF still missing", "number")
    path = archive / document.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArchiveDamaged(f"the archived PDF of {invoice.number} is missing", "number") from None
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise ArchiveDamaged(f"the archived PDF of {invoice.number} does not match its recorded SHA-256",
                             "number")
    return data
