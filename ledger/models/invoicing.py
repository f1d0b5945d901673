"""Invoices and credit notes: issued once, never changed; their PDFs archived with a hash."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Currency, Minor, Record, one_of, utcnow
from .parties import Client

DOCUMENT_KINDS = ("invoice", "credit_note")
LINE_KINDS = ("bundle", "quote", "maintenance", "incident_overage", "hours_overage", "credit")


class Invoice(Record):
    """An issued invoice or credit note. Triggers refuse UPDATE and DELETE: a correction is a credit note."""

    __tablename__ = "invoices"
    __table_args__ = (
        one_of("kind", DOCUMENT_KINDS),
        CheckConstraint("total_minor = subtotal_minor + tax_minor", name="total_adds_up"),
        CheckConstraint("(kind = 'credit_note') = (refers_to_id IS NOT NULL)", name="credit_notes_refer"),
        # one invoice per client and month: running a month twice issues nothing new
        Index("uq_invoices_client_period", "client_id", "period", unique=True,
              sqlite_where=text("kind = 'invoice'"), postgresql_where=text("kind = 'invoice'")),
    )

    #: INV-2026-00042 or CN-2026-00003, each series gapless
    number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    #: the billed month, YYYY-MM
    period: Mapped[str] = mapped_column(String(7))
    issued_on: Mapped[date]
    due_on: Mapped[date]
    currency: Mapped[Currency]
    #: the client's tax rate when issued, percent
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    #: sums in minor units; negative on a credit note
    subtotal_minor: Mapped[Minor]
    tax_minor: Mapped[Minor]
    total_minor: Mapped[Minor]
    #: a credit note's invoice
    refers_to_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    #: why a credit note was issued
    reason: Mapped[str] = mapped_column(Text, default="")
    #: the usage statement as it stood when issued (the PDF is rendered from this snapshot)
    statement: Mapped[dict] = mapped_column(JSON, default=dict)
    #: everything the document prints, as it stood when issued: seller, buyer, due date, service
    #: period, named taxes with their amounts (see services/einvoicing.py); empty before 0009
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice", order_by="InvoiceLine.position")
    refers_to: Mapped[Invoice | None] = relationship(remote_side="Invoice.id")
    document: Mapped[InvoiceDocument | None] = relationship(uselist=False)


class InvoiceLine(Record):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        one_of("kind", LINE_KINDS),
        Index("ix_invoice_lines_invoice_position", "invoice_id", "position", unique=True),
    )

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    #: 1, 2, 3 … in print order
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    #: incidents, hours or 1
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    #: minor units
    unit_price_minor: Mapped[Minor]
    amount_minor: Mapped[Minor]
    #: on a credit note: the invoice line it credits
    credits_line_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_lines.id"), unique=True)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoiceSource(Record):
    """What an invoice billed (a bundle, an item, an overage entry, a maintenance year): billed once, ever."""

    __tablename__ = "invoice_sources"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: e.g. 'bundle:12', 'item:7', 'entry:4410', 'maintenance:3:2026-02-01'
    key: Mapped[str] = mapped_column(String(60), unique=True)

    invoice: Mapped[Invoice] = relationship()


class InvoiceDocument(Record):
    """The archived PDF of an invoice: written once, its SHA-256 checked on every download."""

    __tablename__ = "invoice_documents"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), unique=True)
    #: path under the invoice directory, e.g. 2026/INV-2026-00042.pdf
    path: Mapped[str] = mapped_column(String(200))
    #: hex SHA-256 of the file
    sha256: Mapped[str] = mapped_column(String(64))
    #: bytes
    size: Mapped[int]
    rendered_at: Mapped[datetime] = mapped_column(default=utcnow)
