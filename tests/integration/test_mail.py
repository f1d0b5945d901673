"""E-mail through the outbox, checked against a real SMTP server (aiosmtpd) on 127.0.0.1.

Issuing an invoice queues its e-mail in the same transaction; ``send_pending`` delivers it once
with the archived PDF byte for byte; a server that is down is retried with backoff; a 5xx
rejection is marked failed and only finance's resend sends it again.
"""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import current_app

from ledger.extensions import db
from ledger.models import Invoice, OutboxMessage
from ledger.services import archive, mail
from ledger.services.einvoicing import invoice_xml
from ledger.services.invoicing import issue_invoice
from ledger.services.vendor import set_client_billing
from tests.helpers import (
    MARCH,
    ONCE,
    RUN_DAY,
    Browser,
    bill_march,
    client_named,
    issue,
    make_march_client,
    user_maker,
)

#: the sender's clock, a day ahead: every message queued by a test is due by then
NOW = datetime.now(UTC) + timedelta(days=1)
BILLING = ["rechnung@brau.example.com", "buchhaltung@brau.example.com"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    """An aiosmtpd handler keeping what arrives; ``reply`` set to '550 …' rejects every message."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.reply: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be started and stopped on the same port."""

    def __init__(self):
        self.port = free_port()
        self.handler = Collector()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def transport(self) -> mail.SmtpTransport:
        return mail.transport_from_url(f"smtp://127.0.0.1:{self.port}", "/unused")

    @property
    def received(self):
        return self.handler.messages


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def brau(session, make_client, rate_card):
    """A German client billed for March, with two billing e-mails (given after March's quote was sent,
    so the outbox holds only what a test queues)."""
    make_march_client(make_client, "BRAU", "EUR", "de_DE", "19")
    bill_march(session, "BRAU")
    set_client_billing(session, client_named(session, "BRAU"), billing_emails=BILLING)
    session.commit()
    return client_named(session, "BRAU")


def outbox(session, fresh: bool = True) -> list[OutboxMessage]:
    """The outbox as it stands; ``fresh`` ends the test's read transaction first to see the senders' commits."""
    if fresh:
        session.rollback()
    session.expire_all()
    return session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def send(transport, now=NOW) -> mail.SendResult:
    return mail.send_pending(current_app._get_current_object(), transport, now)


def the_invoice(session) -> Invoice:
    return session.scalar(sa.select(Invoice).where(Invoice.number == "INV-2026-00001"))


def attachment(message, name: str) -> bytes:
    return next(part.get_content() for part in message.iter_attachments() if part.get_filename() == name)


# --- queuing -------------------------------------------------------------------------------


def test_issuing_an_invoice_queues_one_message_to_the_billing_emails(session, brau):
    issue(session)

    [message] = outbox(session)
    assert (message.kind, message.state, message.recipients) == ("invoice", "queued", BILLING)
    assert message.subject == "Rechnung INV-2026-00001 von Support Ledger GmbH"
    assert message.message_id.startswith("<") and message.message_id.endswith("@vendor.example>")


def test_an_issue_that_is_rolled_back_queues_no_message(session, brau):
    invoice = issue_invoice(session, brau, MARCH, RUN_DAY)
    assert invoice is not None and len(outbox(session, fresh=False)) == 1  # queued in the issuing transaction

    session.rollback()

    assert outbox(session) == []


def test_a_client_without_billing_emails_gets_no_message(session, make_client, rate_card):
    make_march_client(make_client, "QUIET")
    bill_march(session, "QUIET")

    issue(session)

    assert outbox(session) == []


def test_queuing_the_same_occasion_twice_queues_it_once(session, brau):
    issue(session)
    again = mail.queue_invoice_mail(session, the_invoice(session))

    assert again is None and len(outbox(session)) == 1


# --- sending through a real SMTP server ----------------------------------------------------


def test_the_invoice_arrives_once_in_german_with_the_archived_pdf_byte_for_byte(session, brau, smtp):
    issue(session)

    result = send(smtp.transport)
    again = send(smtp.transport, NOW + timedelta(days=1))

    assert (result.sent, again.sent) == (1, 0), outbox(session)[0].last_error
    [(recipients, message)] = smtp.received
    invoice = the_invoice(session)
    archived = archive.read_pdf(session, invoice, archive_dir())
    assert recipients == BILLING
    assert message["Subject"] == "Rechnung INV-2026-00001 von Support Ledger GmbH"
    assert message["Content-Language"] == "de-DE"
    assert "Anbei erhalten Sie die Rechnung INV-2026-00001" in message.get_body().get_content()
    assert attachment(message, "INV-2026-00001.pdf") == archived
    assert attachment(message, "INV-2026-00001.xml") == invoice_xml(invoice)
    [stored] = outbox(session)
    assert (stored.state, stored.attempts, message["Message-ID"]) == ("sent", 1, stored.message_id)


def archive_dir():
    from pathlib import Path

    return Path(current_app.config["INVOICE_DIR"])


def test_a_server_that_is_down_is_retried_with_backoff_and_the_message_sent_once_when_it_is_up(session, brau):
    server = SmtpServer()  # nothing listens on its port yet
    issue(session)

    down = send(server.transport)
    [waiting] = outbox(session)
    too_early = send(server.transport, NOW + timedelta(seconds=30))
    server.start()
    try:
        up = send(server.transport, NOW + timedelta(minutes=1))
        later = send(server.transport, NOW + timedelta(hours=1))
    finally:
        server.stop()

    assert (down.retrying, too_early.sent, up.sent, later.sent) == (1, 0, 1, 0)
    assert waiting.next_attempt_at == NOW + timedelta(minutes=1) and "Connection refused" in waiting.last_error
    assert len(server.received) == 1
    assert (outbox(session)[0].state, outbox(session)[0].attempts) == ("sent", 2)


def test_a_5xx_rejection_is_marked_failed_and_not_retried_until_finance_resends_it(app, session, brau, smtp):
    issue(session)
    smtp.handler.reply = "550 5.7.1 Mailbox unavailable"

    rejected = send(smtp.transport)
    later = send(smtp.transport, NOW + timedelta(days=2))
    [failed] = outbox(session)
    assert (rejected.failed, later.sent, later.failed, smtp.received) == (1, 0, 0, [])
    assert failed.state == "failed" and "550" in failed.last_error



def test_finance_sees_a_failed_message_and_resend_sends_it_once(app, smtp):
    with app.app_context():  # no app context stays pushed: each page request gets its own
        queued = mail.queue_message(db.session, kind="invoice", occasion="test:1", recipients=["ap@x.example"],
                                    subject="Rechnung INV-2026-00009", body="Anbei.", language="de_DE")
        db.session.commit()
        message_id, number = queued.id, queued.message_id
    smtp.handler.reply = "550 5.7.1 Mailbox unavailable"
    with app.app_context():
        assert send(smtp.transport).failed == 1
    smtp.handler.reply = None

    page = finance_browser(app)
    listed = page.get("/finance/outbox/?state=failed").get_data(as_text=True)
    resent = page.post(f"/finance/outbox/{message_id}/resend", {"once": ONCE.search(listed).group(1)})
    with app.app_context():
        after = send(smtp.transport)
        again = send(smtp.transport, NOW + timedelta(days=1))

    assert "Rechnung INV-2026-00009" in listed and "550 5.7.1 Mailbox unavailable" in listed
    assert resent.status_code == 302
    assert (after.sent, again.sent, len(smtp.received)) == (1, 0, 1)
    assert smtp.received[0][1]["Message-ID"] == number


def finance_browser(app) -> Browser:
    browser = Browser(app)
    browser.sign_in(user_maker(app)("finance"))
    return browser


def test_a_4xx_reply_is_temporary_and_retried(session, brau, smtp):
    issue(session)
    smtp.handler.reply = "451 4.3.0 Try again later"

    first = send(smtp.transport)
    smtp.handler.reply = None
    second = send(smtp.transport, NOW + timedelta(minutes=1))

    assert (first.retrying, second.sent, len(smtp.received)) == (1, 1, 1)


# --- a crash between sending and marking ---------------------------------------------------


class CrashAfterSending:
    """Delivers through ``transport``, then dies as a killed sender would, before the mark is committed."""

    def __init__(self, transport):
        self.transport = transport

    def send(self, message, sender, recipients):
        self.transport.send(message, sender, recipients)
        raise KeyboardInterrupt("killed between send and mark")

    def delivered(self, message_id):
        return self.transport.delivered(message_id)


def test_after_a_crash_between_send_and_mark_smtp_mail_is_failed_for_finance_not_sent_twice(session, brau, smtp):
    issue(session)
    with pytest.raises(KeyboardInterrupt):
        send(CrashAfterSending(smtp.transport))
    assert outbox(session)[0].state == "sending"

    soon = send(smtp.transport, NOW + timedelta(minutes=5))  # the claim may still be alive: left alone
    later = send(smtp.transport, NOW + mail.CLAIM_TIMEOUT)

    [message] = outbox(session)
    assert (soon.sent, later.sent, len(smtp.received)) == (0, 0, 1)
    assert message.state == "failed" and "may have been delivered" in message.last_error


def test_after_a_crash_between_send_and_mark_the_file_transport_finds_its_eml_and_marks_it_sent(
    session, brau, tmp_path
):
    transport = mail.transport_from_url(f"file://{tmp_path / 'outbox'}", "/unused")
    issue(session)
    with pytest.raises(KeyboardInterrupt):
        send(CrashAfterSending(transport))

    later = send(transport, NOW + mail.CLAIM_TIMEOUT)

    [message] = outbox(session)
    assert later.recovered == [(message.message_id, "sent")]
    assert message.state == "sent" and len(list((tmp_path / "outbox").glob("*.eml"))) == 1


# --- transports ------------------------------------------------------------------------------


def test_the_file_transport_writes_an_eml_under_the_instance_folder(app, session, brau):
    issue(session)

    result = send(mail.app_transport(app))

    [written] = (tmp := __import__("pathlib").Path(app.instance_path) / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert result.sent == 1 and tmp.is_dir()
    assert parsed["To"] == ", ".join(BILLING)
    assert attachment(parsed, "INV-2026-00001.pdf") == archive.read_pdf(session, the_invoice(session),
                                                                        archive_dir())


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mailer:s%40cret@mail.example.com:587?starttls=1",
     ("mail.example.com", 587, "mailer", "s@cret", True)),
    ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, "", "", False)),
])
def test_an_smtp_url_names_host_port_credentials_and_starttls(url, expected):
    transport = mail.transport_from_url(url, "/instance")

    assert (transport.host, transport.port, transport.user, transport.password, transport.starttls) == expected


@pytest.mark.parametrize(("url", "folder"), [
    (None, "/srv/instance/outbox"),
    ("file://instance/outbox", "/srv/instance/outbox"),
    ("file:///var/mail/ledger", "/var/mail/ledger"),
])
def test_a_file_url_is_a_folder_relative_to_the_instance_folder(url, folder):
    assert str(mail.transport_from_url(url, "/srv/instance").folder) == folder


def test_a_mail_url_of_another_scheme_is_refused_naming_the_setting():
    with pytest.raises(Exception, match="LEDGER_MAIL_URL"):
        mail.transport_from_url("ftp://example.com", "/instance")


@pytest.mark.parametrize(("attempts", "minutes"), [(1, 1), (2, 2), (3, 4), (6, 32), (20, 360)])
def test_each_retry_waits_twice_as_long_as_the_one_before_at_most_six_hours(attempts, minutes):
    assert mail.retry_delay(attempts) == timedelta(minutes=minutes)


# --- language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "subject"), [
    ("de_DE", "Rechnung INV-2026-00001 von Support Ledger GmbH"),
    ("fr_FR", "Facture INV-2026-00001 de Support Ledger GmbH"),
    ("en_US", "Invoice INV-2026-00001 from Support Ledger GmbH"),
])
def test_the_invoice_email_is_written_in_the_clients_language(session, make_client, rate_card, locale, subject):
    make_march_client(make_client, "LANG", "EUR", locale, "19")
    bill_march(session, "LANG")
    set_client_billing(session, client_named(session, "LANG"), billing_emails=["ap@lang.example.com"])

    issue(session)

    assert outbox(session)[0].subject == subject


def test_every_message_string_of_the_outbox_has_a_german_and_french_translation():
    from babel.messages.extract import extract_from_file

    from ledger.i18n import translations

    sources = [mail.__file__, __import__("ledger.services.reminders", fromlist=["x"]).__file__]
    strings = {message for path in sources for _, message, _, _ in extract_from_file("python", path)}
    missing = [(language, message) for language in ("de", "fr") for message in sorted(strings)
               if translations(language).gettext(message) == message]

    assert len(strings) >= 15 and missing == []


# --- reminders ------------------------------------------------------------------------------


def test_a_client_out_of_incidents_is_reminded_once_in_its_language(session, brau):
    from datetime import date

    from ledger.services.reminders import queue_reminders

    first = queue_reminders(session, date(2026, 3, 31))
    again = queue_reminders(session, date(2026, 3, 31))

    assert [(m.kind, m.subject) for m in first] == [("incidents_low", "Sie haben keine Support-Incidents mehr")]
    assert again == []


@pytest.mark.parametrize(("bundle", "threshold"), [(10, 2), (25, 5), (3, 1), (1, 1)])
def test_incidents_run_low_at_a_fifth_of_the_last_bundle_rounded_up(bundle, threshold):
    from ledger.services.reminders import low_threshold

    assert low_threshold(bundle) == threshold


@pytest.mark.parametrize(("days", "notice"), [(61, None), (60, 60), (45, 60), (30, 30), (1, 30), (0, None)])
def test_the_expiry_notice_is_the_nearest_of_60_and_30_days_reached(days, notice):
    from ledger.services.reminders import EXPIRY_NOTICES, notice_due

    assert notice_due(days, EXPIRY_NOTICES) == notice


@pytest.mark.parametrize(("days", "notice"), [(6, None), (7, 7), (13, 7), (14, 14), (29, 14), (30, 30), (90, 30)])
def test_the_overdue_notice_is_the_latest_of_7_14_and_30_days_reached(days, notice):
    from ledger.services.reminders import overdue_notice

    assert overdue_notice(days) == notice


def test_an_overdue_reminder_names_what_is_still_due_after_a_part_payment_at_7_14_and_30_days_each_once(
        session, brau):
    from datetime import timedelta
    from decimal import Decimal

    from ledger.services import payments
    from ledger.services.reminders import queue_reminders

    issue(session)
    invoice = the_invoice(session)
    payments.record_payment(session, invoice, Decimal("10000.00"), invoice.issued_on, "Überweisung", None, None,
                            today=invoice.issued_on)
    session.commit()

    def overdue_on(days: int) -> list[OutboxMessage]:
        return [m for m in queue_reminders(session, invoice.due_on + timedelta(days=days))
                if m.kind == "invoice_overdue"]

    assert overdue_on(6) == []
    [first] = overdue_on(7)
    assert "fällig; 2.571,60\xa0€ sind 7 Tage später noch offen" in first.body  # 12,571.60 less the 10,000 paid
    assert first.subject == "Rechnung INV-2026-00001 ist überfällig"
    assert overdue_on(8) == [] and overdue_on(13) == []
    assert len(overdue_on(14)) == 1 and overdue_on(20) == []
    assert len(overdue_on(30)) == 1 and overdue_on(90) == []


def test_a_paid_invoice_is_never_reminded(session, brau):
    from datetime import timedelta
    from decimal import Decimal

    from ledger.services import payments
    from ledger.services.reminders import queue_reminders

    issue(session)
    invoice = the_invoice(session)
    payments.record_payment(session, invoice, Decimal("12571.60"), invoice.issued_on, None, None, None,
                            today=invoice.issued_on)

    queued = queue_reminders(session, invoice.due_on + timedelta(days=30))

    assert [m for m in queued if m.kind == "invoice_overdue"] == []


# --- the quote e-mail -------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "subject", "link_sentence"), [
    ("de_DE", "Angebot Q-2026-00001 von Support Ledger GmbH",
     "Sie können es im Kundenportal annehmen oder ablehnen: https://ledger.example.com/portal/quotes#Q-2026-00001"),
    ("fr_CA", "Soumission Q-2026-00001 de Support Ledger GmbH",
     "Pour l'accepter ou le refuser, connectez-vous au portail : "
     "https://ledger.example.com/portal/quotes#Q-2026-00001"),
])
def test_sending_a_quote_queues_a_message_with_the_portal_link_in_the_clients_language(
        app, session, make_client, rate_card, locale, subject, link_sentence):
    from datetime import date
    from decimal import Decimal

    from ledger.billing import QuoteLineRequest
    from ledger.services.quotes import create_quote, send_quote

    app.config["PUBLIC_URL"] = "https://ledger.example.com/"
    make_march_client(make_client, "QUOTE", "EUR", locale, "19")
    client = client_named(session, "QUOTE")
    set_client_billing(session, client, billing_emails=["einkauf@quote.example.com"])
    quote = create_quote(session, client, [QuoteLineRequest("analyst", "hour", Decimal(4))],
                         valid_until=date(2026, 3, 31), today=date(2026, 3, 3))
    assert outbox(session, fresh=False) == []

    send_quote(session, quote, date(2026, 3, 3))

    [message] = outbox(session, fresh=False)  # queued in the sending's transaction
    assert (message.kind, message.recipients, message.language) == ("quote", ["einkauf@quote.example.com"], locale)
    assert message.subject == subject
    assert link_sentence in message.body
    session.rollback()
    assert outbox(session) == []  # and rolled back with it


def test_the_quote_email_is_written_as_an_eml_once_sent(app, session, make_client, rate_card):
    from datetime import date
    from decimal import Decimal

    from ledger.billing import QuoteLineRequest
    from ledger.services.quotes import create_quote, send_quote

    make_march_client(make_client, "QUOTE", "EUR", "de_DE", "19")
    client = client_named(session, "QUOTE")
    set_client_billing(session, client, billing_emails=["einkauf@quote.example.com"])
    quote = create_quote(session, client, [QuoteLineRequest("analyst", "hour", Decimal(4))],
                         valid_until=date(2026, 3, 31), today=date(2026, 3, 3))
    send_quote(session, quote, date(2026, 3, 3))
    session.commit()
    transport = mail.app_transport(current_app)

    assert send(transport).sent == 1

    [written] = list(transport.folder.glob("*.eml"))
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Angebot Q-2026-00001 von Support Ledger GmbH"
    assert "http://127.0.0.1:5000/portal/quotes#Q-2026-00001" in parsed.get_content()
