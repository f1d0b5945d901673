"""The invoice archive: each PDF written once under its year, in the configured store; its SHA-256 kept and checked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import storage
from ..errors import LedgerError
from ..models import Invoice, InvoiceDocument


class ArchiveDamaged(LedgerError):
    """An archived PDF is missing or no longer matches its recorded hash: restore it from a backup."""

    status = 500
    code = "archive_damaged"


class ArchiveUnavailable(ArchiveDamaged):
    """The archive (an object store) cannot be reached now: try again later."""

    status = 503
    code = "archive_unavailable"


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
    draft = storage.draft_beside(target)
    try:
        yield draft
        storage.fsync(draft)
        os.replace(draft, target)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    storage.fsync(target.parent)


def render_to_archive(invoice: Invoice, store, config) -> Rendered:
    """Render the invoice's PDF and store it in the archive, once (the database is not touched).

    The key may hold this very PDF already: an earlier run stored it and was stopped before
    recording it, or a batch on another host got there first. Rendering is deterministic, so
    the same bytes mean the same document, and it is recorded as it stands. Different bytes
    are someone else's document (left by a database restored or recovered to an earlier
    moment): it is never replaced, and the invoice is not archived until an operator moves
    it aside.
    """
    from ..pdf import render_invoice_pdf

    store = storage.as_store(store)
    relative = relative_path(invoice)
    data = render_invoice_pdf(invoice, config)
    try:
        store.put_once(relative, data)
    except storage.AlreadyStored:
        if store.get(relative) != data:
            raise ArchiveDamaged(
                f"{store.where(relative)} holds a different PDF that no invoice records (left from a "
                f"database restored or recovered to an earlier moment?); move it out of the archive and run "
                f"the month again to archive {invoice.number}", "number") from None
    return Rendered(invoice.id, relative, storage.sha256_of(data), len(data))


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
    return record(session, render_to_archive(invoice, storage.for_config(config), config))


def read_pdf(session: Session, invoice: Invoice, store, config=None) -> bytes:
    """The archived PDF, byte for byte. Only reads: a document is archived when it is issued.

    Raises :class:`ArchiveDamaged` when the PDF is missing (never archived, or lost) or no
    longer matches its recorded hash.
    """
    document = session.scalar(select(InvoiceDocument).where(InvoiceDocument.invoice_id == invoice.id))
    if document is None:
        raise ArchiveDamaged(f"the PDF of {invoice.number} has not been archived; run `ledger invoices run` "
                             "for its month, which archives every PDF still missing", "number")
    try:
        return storage.as_store(store).get(document.path, document.sha256)
    except storage.NotStored:
        raise ArchiveDamaged(f"the archived PDF of {invoice.number} is missing", "number") from None
    except storage.Damaged:
        raise ArchiveDamaged(f"the archived PDF of {invoice.number} does not match its recorded SHA-256",
                             "number") from None
    except storage.StoreError as error:
        raise ArchiveUnavailable(f"the archived PDF of {invoice.number} cannot be read now: {error}",
                                 "number") from None
