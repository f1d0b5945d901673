"""The e-mail outbox: messages written in the same transaction as the event they tell of, sent later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Record, one_of, utcnow

#: queued → sending (claimed by one sender) → sent; or back to queued (temporary failure), or failed
MAIL_STATES = ("queued", "sending", "sent", "failed")
#: what a message tells of
MAIL_KINDS = ("invoice", "credit_note", "quote", "incidents_low", "incidents_expiring", "invoice_overdue")
#: where an attachment's bytes come from when sent: stored with it, or the invoice's archived PDF or its XML
ATTACHMENT_SOURCES = ("stored", "archived_pdf", "facturx_xml")


class OutboxMessage(Record):
    """One e-mail: sent at most once, under a Message-ID fixed when it was queued."""

    __tablename__ = "outbox"
    __table_args__ = (
        one_of("state", MAIL_STATES),
        one_of("kind", MAIL_KINDS),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )

    #: the RFC 5322 Message-ID, with its angle brackets; a resend keeps it
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    #: the event the message belongs to, e.g. 'invoice:42' or 'incidents_low:7:2026-03-02:20':
    #: one message per occasion, so queuing again queues nothing
    occasion: Mapped[str] = mapped_column(String(120), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: addresses, in order
    recipients: Mapped[list] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    #: plain text
    body: Mapped[str] = mapped_column(Text)
    #: the Babel locale the subject and body are written in
    language: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when a sender claimed it (state 'sending')
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attachments: Mapped[list[OutboxAttachment]] = relationship(
        order_by="OutboxAttachment.position", cascade="all, delete-orphan")


class OutboxAttachment(Record):
    """A file attached to a message: its bytes, or a reference read when the message is sent."""

    __tablename__ = "outbox_attachments"
    __table_args__ = (
        one_of("source", ATTACHMENT_SOURCES),
        CheckConstraint("(source = 'stored') = (content IS NOT NULL)", name="stored_has_content"),
        CheckConstraint("(source = 'stored') OR (invoice_id IS NOT NULL)", name="reference_names_invoice"),
        Index("ix_outbox_attachments_message_position", "message_id", "position", unique=True),
    )

    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    position: Mapped[int]
    #: the file name the recipient sees
    name: Mapped[str] = mapped_column(String(200))
    #: e.g. application/pdf
    media_type: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    content: Mapped[bytes | None]
    #: for 'archived_pdf' and 'facturx_xml': the invoice whose document is attached
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
