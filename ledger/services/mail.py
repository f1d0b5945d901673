"""The e-mail outbox: queue a message in the event's transaction, send it later, at most once.

Queuing writes a row (and its attachments) with the caller's session and only flushes, so a
message exists exactly when the event that caused it was committed. Sending is done by
:func:`send_pending`, which commits on its own, one message at a time:

1. **claim**: ``UPDATE outbox SET state='sending' WHERE id=? AND state='queued'`` and commit,
   so two senders running at once never both send a message;
2. **send** through the transport, under the Message-ID fixed when the message was queued;
3. **mark**: ``sent``; or back to ``queued`` with a later ``next_attempt_at`` on a temporary
   failure (SMTP 4xx, no connection, the PDF not archived yet); or ``failed`` on a permanent one
   (SMTP 5xx), which is never retried by itself: finance sees it and may resend it.

A crash between 2 and 3 leaves the message ``sending``. Once its claim is older than
:data:`CLAIM_TIMEOUT`, the next run asks the transport whether that Message-ID was delivered:
the file transport can tell (the .eml file is there, or not), so the message is marked sent, or
queued again without a duplicate. An SMTP server cannot be asked, so the message is marked
``failed`` with a note that it may have arrived: it is never sent twice automatically, and
finance decides whether to resend it.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import storage
from ..errors import N_, Conflict, ValidationError
from ..i18n import translations
from ..models import Client, Invoice, OutboxAttachment, OutboxMessage, Quote
from ..money import Money
from . import archive, einvoicing
from .vendor import get_vendor

#: a claim older than this is taken to be a sender that died between sending and marking
CLAIM_TIMEOUT = timedelta(minutes=10)
#: the first retry waits this long; each later one twice as long as the one before
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
#: after this many temporary failures a message is marked failed for finance to see
MAX_ATTEMPTS = 10
DEFAULT_MAIL_URL = "file://instance/outbox"
#: the From address when the vendor's profile has no e-mail
FALLBACK_SENDER = "billing@support-ledger.invalid"


# --- rules -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th temporary failure: 1, 2, 4 … minutes, at most 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


class TemporaryFailure(Exception):
    """Sending failed in a way that may pass: try again later."""


class PermanentFailure(Exception):
    """The server refused the message for good (SMTP 5xx): do not retry."""


# --- queuing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """What to attach: ``content`` bytes, or ``source`` 'archived_pdf' / 'facturx_xml' of ``invoice_id``."""

    name: str
    media_type: str
    content: bytes | None = None
    source: str = "stored"
    invoice_id: int | None = None


def queue_message(session: Session, *, kind: str, occasion: str, recipients: list[str], subject: str,
                  body: str, language: str, attachments: tuple[Attachment, ...] = (),
                  client: Client | None = None, invoice: Invoice | None = None,
                  now: datetime | None = None) -> OutboxMessage | None:
    """Queue one message in the caller's transaction; None if ``occasion`` was queued before."""
    if not recipients:
        raise ValidationError("a message needs at least one recipient", "recipients")
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.occasion == occasion)) is not None:
        return None
    domain = _sender(session).rpartition("@")[2] or "support-ledger.invalid"
    message = OutboxMessage(
        message_id=make_msgid("outbox", domain=domain), kind=kind, occasion=occasion,
        client_id=client.id if client else None, invoice_id=invoice.id if invoice else None,
        recipients=list(recipients), subject=subject, body=body, language=language, state="queued",
        attempts=0, last_error="", **({"next_attempt_at": now} if now else {}),
        attachments=[OutboxAttachment(position=position, name=item.name, media_type=item.media_type,
                                      source=item.source, content=item.content, invoice_id=item.invoice_id)
                     for position, item in enumerate(attachments, start=1)],
    )
    try:
        with session.begin_nested():  # a parallel reminder run queued the same occasion: keep theirs
            session.add(message)
    except IntegrityError:
        return None
    return message


def _sender(session: Session) -> str:
    return get_vendor(session).email or FALLBACK_SENDER


def queue_invoice_mail(session: Session, invoice: Invoice) -> OutboxMessage | None:
    """Queue the invoice or credit note for the client's billing e-mails, with its PDF and XML attached.

    Nothing is queued when the client has no billing e-mail. The PDF is read from the archive when
    the message is sent (it is archived after issuing), so it is byte for byte the archived one.
    """
    client = invoice.client
    if not client.billing_emails:
        return None
    text = Texts(client.locale)
    _ = text.gettext
    vendor_name = get_vendor(session).legal_name
    values = {"number": invoice.number, "vendor": vendor_name, "client": client.name,
              "date": text.day(invoice.issued_on), "due": text.day(invoice.due_on),
              "total": text.money(invoice.total_minor, invoice.currency)}
    if invoice.kind == "invoice":
        subject = _("Invoice %(number)s from %(vendor)s") % values
        opening = _("Please find attached invoice %(number)s of %(date)s for %(total)s, "
                       "payable by %(due)s.") % values
    else:
        subject = _("Credit note %(number)s from %(vendor)s") % values
        opening = _("Please find attached credit note %(number)s of %(date)s for %(total)s.") % values
    body = letter(text, client, opening, _("The PDF and its e-invoice (Factur-X XML) are attached."),
                  _("Kind regards,") + "\n" + vendor_name)
    attachments = (
        Attachment(f"{invoice.number}.pdf", "application/pdf", source="archived_pdf", invoice_id=invoice.id),
        Attachment(f"{invoice.number}.xml", "application/xml", source="facturx_xml", invoice_id=invoice.id),
    )
    return queue_message(session, kind=invoice.kind, occasion=f"{invoice.kind}:{invoice.id}",
                         recipients=client.billing_emails, subject=subject, body=body, language=client.locale,
                         attachments=attachments, client=client, invoice=invoice)


def queue_quote_mail(session: Session, quote: Quote) -> OutboxMessage | None:
    """Queue the sent quote for the client's billing e-mails, with a link to accept it in the portal.

    Nothing is queued when the client has no billing e-mail.
    """
    client = quote.client
    if not client.billing_emails:
        return None
    text = Texts(client.locale)
    _ = text.gettext
    vendor_name = get_vendor(session).legal_name
    values = {"number": quote.number, "vendor": vendor_name, "client": client.name,
              "valid": text.day(quote.valid_until), "total": text.money(quote.total_minor, quote.currency),
              "link": f"{public_url()}/portal/quotes#{quote.number}"}
    body = letter(text, client,
                  _("We have sent you quote %(number)s for %(total)s, valid until %(valid)s.") % values,
                  _("To accept or decline it, sign in to the portal: %(link)s") % values,
                  _("Kind regards,") + "\n" + vendor_name)
    return queue_message(session, kind="quote", occasion=f"quote:{quote.id}", recipients=client.billing_emails,
                         subject=_("Quote %(number)s from %(vendor)s") % values, body=body,
                         language=client.locale, client=client)


def letter(text: Texts, client: Client, *paragraphs: str) -> str:
    """A message's body: the greeting, ``paragraphs``, each apart, and a final line break."""
    return "\n\n".join([text.gettext("Hello %(client)s,") % {"client": client.name}, *paragraphs, ""])


def public_url() -> str:
    """Where clients reach the app (``LEDGER_PUBLIC_URL``), without a trailing slash."""
    from flask import current_app, has_app_context

    configured = current_app.config.get("PUBLIC_URL") if has_app_context() else None
    return (configured or os.environ.get("LEDGER_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")


class Texts:
    """Message text in one locale: gettext, long dates and money as the recipient reads them."""

    def __init__(self, locale: str):
        self.locale = locale
        self.gettext = translations(locale).gettext

    def day(self, value) -> str:
        return format_date(value, format="long", locale=self.locale)

    def money(self, minor: int, currency: str) -> str:
        return format_currency(Money.from_minor(minor, currency).amount, currency, locale=self.locale)


# --- building and sending ----------------------------------------------------------------


def build_email(session: Session, message: OutboxMessage, archive_dir: storage.Store | Path) -> EmailMessage:
    """The message as sent: headers, text body and attachments (archived PDFs read and checked now)."""
    email = EmailMessage()
    email["Message-ID"] = message.message_id
    email["From"] = _sender(session)
    email["To"] = ", ".join(message.recipients)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email.set_content(message.body)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        email.add_attachment(_content(session, attachment, archive_dir), maintype=maintype, subtype=subtype,
                             filename=attachment.name)
    # set last: set_content and add_attachment move Content-* headers into the parts
    email["Content-Language"] = message.language.replace("_", "-")
    return email


def _content(session: Session, attachment: OutboxAttachment, archive_dir: storage.Store | Path) -> bytes:
    if attachment.source == "stored":
        return attachment.content
    invoice = session.get(Invoice, attachment.invoice_id)
    if attachment.source == "facturx_xml":
        return einvoicing.invoice_xml(invoice)
    try:
        return archive.read_pdf(session, invoice, archive_dir)
    except archive.ArchiveDamaged as error:  # not archived yet: the batch renders after issuing
        raise TemporaryFailure(error.message) from None


@dataclass
class SendResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    #: stale claims settled: (message id, what became of it)
    recovered: list[tuple[str, str]] | None = None


def send_pending(app, transport, now: datetime, *, limit: int = 500) -> SendResult:
    """Send what is queued and due through ``transport``, each message at most once; commits per message."""
    result = SendResult(recovered=[])
    with _sender_session(app) as session:
        result.recovered = recover_stale_claims(session, transport, now)
        session.commit()
        due = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
        session.rollback()
        _send_each(session, due, transport, now, storage.for_config(app.config), result)
    return result


def send_invoice_mail(app, transport, now: datetime, invoice_id: int) -> SendResult:
    """Send the queued messages of one invoice now, whatever their retry time: a batch job calls it
    right after archiving the invoice's PDF (a send tried before that waits to be retried)."""
    result = SendResult()
    with _sender_session(app) as session:
        waiting = session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.invoice_id == invoice_id, OutboxMessage.state == "queued")).all()
        session.rollback()
        _send_each(session, waiting, transport, now, Path(app.config["INVOICE_DIR"]), result)
    return result


@contextmanager
def _sender_session(app) -> Iterator[Session]:
    """``app``'s session for a sender that commits message by message; rolled back and removed after."""
    from ..extensions import db

    with app.app_context():
        try:
            yield db.session
        finally:
            db.session.rollback()
            db.session.remove()


def _send_each(session: Session, message_ids, transport, now: datetime, archive_dir: storage.Store | Path,
               result: SendResult) -> None:
    """Send each message in turn, counting each outcome in ``result``."""
    for message_id in message_ids:
        outcome = _send_one(session, message_id, transport, now, archive_dir)
        if outcome:
            setattr(result, outcome, getattr(result, outcome) + 1)


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    """Take the message for this sender; False if another sender took it first."""
    claimed = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.state == "queued")
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False))
    session.commit()
    return claimed.rowcount == 1


def _send_one(session: Session, message_id: int, transport, now: datetime, archive_dir: storage.Store | Path) -> str | None:
    if not _claim(session, message_id, now):
        return None
    message = session.get(OutboxMessage, message_id)
    try:
        email = build_email(session, message, archive_dir)
        transport.send(email, _sender(session), message.recipients)
    except PermanentFailure as error:
        return _mark(session, message, "failed", now, str(error))
    except TemporaryFailure as error:
        return _retry_or_fail(session, message, now, str(error))
    _mark(session, message, "sent", now)
    return "sent"


def _retry_or_fail(session: Session, message: OutboxMessage, now: datetime, error: str) -> str:
    if message.attempts >= MAX_ATTEMPTS:
        return _mark(session, message, "failed", now, f"gave up after {message.attempts} attempts: {error}")
    message.next_attempt_at = now + retry_delay(message.attempts)
    return _mark(session, message, "queued", now, error, outcome="retrying")


def _mark(session: Session, message: OutboxMessage, state: str, now: datetime, error: str = "",
          outcome: str | None = None) -> str:
    message.state = state
    message.claimed_at = None
    message.last_error = error[:2000]
    if state == "sent":
        message.sent_at = now
    session.commit()
    return outcome or state


def recover_stale_claims(session: Session, transport, now: datetime) -> list[tuple[str, str]]:
    """Settle messages left 'sending' by a sender that died between sending and marking.

    The transport is asked whether the Message-ID was delivered: yes → sent; no → queued again;
    it cannot tell (SMTP) → failed, with a note, so it is never sent twice without finance deciding.
    """
    stale = session.scalars(select(OutboxMessage).where(
        OutboxMessage.state == "sending", OutboxMessage.claimed_at <= now - CLAIM_TIMEOUT)).all()
    settled = []
    for message in stale:
        delivered = transport.delivered(message.message_id)
        message.claimed_at = None
        if delivered is True:
            message.state, message.sent_at = "sent", now
        elif delivered is False:
            message.state, message.next_attempt_at = "queued", now
            message.last_error = "the sender stopped before sending; queued again"
        else:
            message.state = "failed"
            message.last_error = ("the sender stopped after handing the message to the server and before "
                                  "recording it: it may have been delivered; check with the recipient "
                                  "before resending")
        settled.append((message.message_id, message.state))
    session.flush()
    return settled


def resend(session: Session, message: OutboxMessage, now: datetime) -> OutboxMessage:
    """Queue a failed message again, due now, under its own Message-ID (finance's decision)."""
    if message.state != "failed":
        raise Conflict(N_("only a failed message can be resent; this one is %(state)s"), "state", state=message.state)
    message.state, message.next_attempt_at, message.attempts = "queued", now, 0
    session.flush()
    return message


# --- transports --------------------------------------------------------------------------


class FileTransport:
    """Writes each message as ``<folder>/<Message-ID>.eml``; a message already written is not written again."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path_of(self, message_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-._@" else "_" for c in message_id.strip("<>"))
        return self.folder / f"{safe}.eml"

    def send(self, email: EmailMessage, sender: str, recipients: list[str]) -> None:
        try:  # a folder store never replaces a file: a message is written once
            name = self.path_of(email["Message-ID"]).name
            storage.FolderStore(self.folder).put_once(name, email.as_bytes())
        except storage.AlreadyStored:
            pass

    def delivered(self, message_id: str) -> bool:
        return self.path_of(message_id).exists()


class SmtpTransport:
    """Talks to an SMTP server: STARTTLS and AUTH when configured; 4xx and no connection are temporary."""

    def __init__(self, host: str, port: int, user: str = "", password: str = "", starttls: bool = False,
                 timeout: float = 30.0):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, email: EmailMessage, sender: str, recipients: list[str]) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(email, sender, recipients)
        except smtplib.SMTPRecipientsRefused as error:
            raise _classify(min(code for code, _ in error.recipients.values()), str(error.recipients)) from None
        except smtplib.SMTPResponseException as error:
            raise _classify(error.smtp_code, _reply(error.smtp_error)) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as error:
            raise TemporaryFailure(f"{self.host}:{self.port}: {error}") from None
        if refused:  # some recipients accepted: the message went out; say who did not get it
            raise PermanentFailure(f"refused by the server for {', '.join(sorted(refused))}")

    def delivered(self, message_id: str) -> None:
        """An SMTP server cannot be asked whether it has a message: unknown."""
        return None


def _reply(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _classify(code: int, text: str) -> Exception:
    failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
    return failure(f"{code} {text}")


def transport_from_url(url: str | None, instance_path: Path | str) -> FileTransport | SmtpTransport:
    """The transport ``LEDGER_MAIL_URL`` names: ``file://PATH`` (relative to the instance folder) or ``smtp://``."""
    url = url or DEFAULT_MAIL_URL
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.netloc + parts.path)
        if path == "instance" or path.startswith("instance/"):
            path = path.removeprefix("instance").lstrip("/")
        return FileTransport(Path(instance_path) / path)
    if parts.scheme == "smtp":
        if not parts.hostname:
            raise ValidationError("LEDGER_MAIL_URL: smtp:// needs a host", "LEDGER_MAIL_URL")
        query = parse_qs(parts.query)
        return SmtpTransport(parts.hostname, parts.port or 25, unquote(parts.username or ""),
                             unquote(parts.password or ""), query.get("starttls", ["0"])[0] in ("1", "true"))
    raise ValidationError(f"LEDGER_MAIL_URL: {parts.scheme or url!r} is neither file:// nor smtp://",
                          "LEDGER_MAIL_URL")


def app_transport(app) -> FileTransport | SmtpTransport:
    """The transport of ``app``'s configuration (``MAIL_URL``, from ``LEDGER_MAIL_URL``)."""
    return transport_from_url(app.config.get("MAIL_URL"), app.instance_path)

