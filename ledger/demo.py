"""Demo data a person can explore: three clients in three currencies and months of support."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import billing
from .demo_sla import load_sla_demo
from .errors import Conflict
from .models import Client
from .money import Money
from .services import balances, bundles, clients, quotes, ratecards, support, terms, users, vendor, work

DEMO_PASSWORD = "demo-password"
STAFF = (
    ("admin@example.com", "admin"),
    ("manager@example.com", "account_manager"),
    ("finance@example.com", "finance"),
)
SUBJECTS = (
    "Printer queue stuck after update", "VPN drops every hour", "Month-end report times out",
    "New hire needs accounts", "Backup job failed overnight", "ERP login error 401",
    "Email delivery delayed", "Label printer misaligned", "Warehouse scanner offline",
    "Database disk nearly full", "Invoice export missing rows", "Slow response in branch office",
)
TECHNICIANS = ("Priya Raman", "Jonas Weber", "Amélie Tremblay", "Sam Okafor")


@dataclass(frozen=True)
class DemoClient:
    code: str
    name: str
    currency: str
    locale: str
    tax_rate: str
    offset_hours: int
    #: months between the first anniversary and today
    months_ago: int
    maintenance_fee: str
    overage_policy: str
    #: incidents bought at the start of each term
    bundle: int
    #: cases opened per month
    cases_per_month: int
    address: str
    contact: str
    #: billing details (see services/vendor.set_client_billing)
    billing: dict


#: the demo vendor: German, so its IBAN and VAT ID are checked digit by digit
VENDOR = dict(
    legal_name="Support Ledger Services GmbH", address="Friedrichstraße 123\n10117 Berlin\nDeutschland",
    country="DE", vat_id="DE136695976", registration="HRB 212345 B, Amtsgericht Charlottenburg",
    iban="DE89370400440532013000", bic="COBADEFFXXX", email="billing@support-ledger.example",
    phone="+49 30 1234567",
)

CLIENTS = (
    DemoClient("ACME", "Acme Manufacturing Inc.", "USD", "en_US", "8.25", -5, 9, "12000.00", "bill",
               100, 3, "1200 Industrial Way\nDayton, OH 45402\nUSA", "it@acme.example.com",
               dict(country="US", vat_id="12-3456789", billing_emails=["ap@acme.example.com"],
                    payment_terms_days=30, purchase_order="PO-2026-0815",
                    taxes=[{"name": "Sales tax", "rate": "8.25"}])),
    DemoClient("BRAU", "Brauerei Adler GmbH", "EUR", "de_DE", "19", 1, 5, "8000.00", "block",
               25, 3, "Hopfenstraße 7\n80331 München\nDeutschland", "it@brau.example.com",
               dict(country="DE", vat_id="DE129273398", billing_emails=["rechnung@brau.example.com"],
                    payment_terms_days=14, taxes=[{"name": "USt.", "rate": "19"}])),
    DemoClient("NORD", "Nordique Logistique ltée", "CAD", "fr_CA", "14.975", -5, 15, "9500.00", "bill",
               60, 2, "455 rue du Port\nMontréal (Québec) H2Y 1A1\nCanada", "ti@nord.example.com",
               dict(country="CA", vat_id="123456782RT0001", billing_emails=["comptes@nord.example.com"],
                    payment_terms_days=30, taxes=[{"name": "GST", "rate": "5"},
                                                  {"name": "QST", "rate": "9.975"}])),
)

#: where each demo client's people work: their pages show times there
DEMO_ZONES = {"ACME": "America/New_York", "BRAU": "Europe/Berlin", "NORD": "America/Toronto"}


def load_demo(session: Session, today: date, *, if_empty: bool = False) -> str:
    """Load the demo (refusing a database that has clients unless ``if_empty``); return sign-in help."""
    if session.scalar(select(Client.id).limit(1)) is not None:
        if if_empty:
            return "demo data is loaded already.\n" + _sign_in_help(tokens=None)
        raise Conflict("the database has clients already; demo data goes into an empty one "
                       "(use --if-empty to skip quietly)")
    rng = random.Random(20261122)
    vendor.update_vendor(session, **VENDOR)
    for currency in sorted({c.currency for c in CLIENTS}):
        ratecards.seed_card(session, currency)
    for user_email, role in STAFF:
        users.create_user(session, user_email, role, password=DEMO_PASSWORD)
    manager = users.find_user(session, "manager@example.com")
    loaded = {}
    for spec in CLIENTS:
        client = loaded[spec.code] = _load_client(session, spec, today, rng)
        _load_professional_services(session, client, today, rng, manager)
    load_sla_demo(session, loaded, today)
    client_user = users.find_user(session, CLIENTS[0].contact)
    return _sign_in_help({user.email: users.create_token(session, user) for user in (manager, client_user)})


def _load_client(session: Session, spec: DemoClient, today: date, rng: random.Random) -> Client:
    anniversary = _months_before(today, spec.months_ago).replace(day=1)
    client = clients.create_client(
        session, code=spec.code, name=spec.name, currency=spec.currency, locale=spec.locale,
        tax_rate=Decimal(spec.tax_rate), term_start=anniversary,
        maintenance_fee=Money(Decimal(spec.maintenance_fee), spec.currency),
        overage_policy=spec.overage_policy, address=spec.address, time_zone=DEMO_ZONES.get(spec.code),
    )
    vendor.set_client_billing(session, client, **spec.billing)
    users.create_user(session, spec.contact, "client", client=client, password=DEMO_PASSWORD)
    term = billing.term_containing(anniversary, anniversary)
    bundles.buy_bundle(session, client, spec.bundle, anniversary)
    zone = timezone(timedelta(hours=spec.offset_hours))
    day = anniversary + timedelta(days=3)
    while day < today - timedelta(days=2):
        if day > term.end:
            terms.close_client_terms(session, client, day)
            term = billing.term_containing(anniversary, day)
            bundles.buy_bundle(session, client, max(spec.bundle // 2, 10), term.start)
        _support_day(session, client, day, zone, rng, spec.cases_per_month)
        day += timedelta(days=rng.randint(4, 12))
    return client


def _load_professional_services(session, client, today, rng, manager) -> None:
    """An accepted quote with work drawn from it, a quote sent for the client to decide, a draft."""
    line = billing.QuoteLineRequest
    accepted_on = today - timedelta(days=75)
    accepted = quotes.create_quote(
        session, client, [line("analyst", "day", Decimal(2)), line("developer", "hour", Decimal(40))],
        accepted_on + timedelta(days=30), accepted_on, user=manager)
    quotes.send_quote(session, accepted, accepted_on, user=manager)
    quotes.accept_quote(session, accepted, accepted_on + timedelta(days=2), user=manager)
    day = accepted_on + timedelta(days=4)
    while day < today:
        role = rng.choice(("analyst", "developer", "developer"))
        work.log_work(session, client, role, rng.choice((50, 90, 120, 180, 240)), day,
                      rng.choice(("Requirements workshop", "Report changes", "Data migration script",
                                  "Integration testing", "Go-live support")), user=manager)
        day += timedelta(days=rng.randint(3, 9))
    offered = quotes.create_quote(
        session, client, [line("consultant", "day", Decimal(5)), line("developer", "hour", Decimal(80))],
        today + timedelta(days=30), today - timedelta(days=3), user=manager)
    quotes.send_quote(session, offered, today - timedelta(days=3), user=manager)
    quotes.create_quote(session, client, [line("analyst", "hour", Decimal(12))],
                        today + timedelta(days=45), today, user=manager)


def _support_day(session, client, day, zone, rng, cases_per_month) -> None:
    """One day with a new case: a help-desk answer or a technician's work, now and then an appointment."""
    if rng.random() > cases_per_month / 3:
        return
    opened = datetime.combine(day, time(rng.randint(8, 15), rng.choice((0, 15, 30, 45))), zone)
    case = support.open_case(session, client, rng.choice(SUBJECTS), rng.choice(
        ("critical", "major", "moderate", "moderate", "minor", "minor")), opened)
    technician = rng.choice(TECHNICIANS)
    if rng.random() < 0.3:
        support.log_helpdesk_answer(session, case, opened + timedelta(minutes=4), "Help desk",
                                    "Answered on the phone: password reset.")
        return
    if balances.balance(session, client, day).available < 6 and client.overage_policy == "block":
        return  # a blocked client stops here in the demo, a little before running dry
    support.log_technician_response(session, case, opened + timedelta(minutes=rng.randint(10, 90)),
                                    technician, "Remote session; collected logs.")
    if rng.random() < 0.5:
        support.log_technician_response(session, case, opened + timedelta(hours=3), technician,
                                        "Follow-up: confirmed fixed.")
    if rng.random() < 0.35:
        start = opened + timedelta(days=1, hours=1)
        minutes = rng.choice((45, 60, 75, 100, 150))
        support.log_appointment(session, case, start, start + timedelta(minutes=minutes), technician,
                                "On-site visit.")


def _months_before(day: date, months: int) -> date:
    month = day.month - 1 - months
    return date(day.year + month // 12, month % 12 + 1, 1)


def _sign_in_help(tokens: dict[str, str] | None) -> str:
    # `make run` passes the address it serves (its HOST and PORT)
    address = os.environ.get("LEDGER_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
    lines = [
        f"Sign in at {address}.",
        f"Demo users (password for all: {DEMO_PASSWORD}):",
        *(f"  {email:28} {role}" for email, role in STAFF),
        *(f"  {c.contact:28} client user of {c.code} ({c.name})" for c in CLIENTS),
    ]
    if tokens:
        lines.append("API tokens (shown once; make more with `ledger tokens create EMAIL`):")
        lines.extend(f"  {email:28} {token}" for email, token in tokens.items())
        first = next(iter(tokens.values()))
        lines.append(f"Try: curl -H 'Authorization: Bearer {first}' "
                     f"{address}/api/v1/clients/ACME/balance")
    else:
        lines.append("API tokens: `ledger tokens create manager@example.com`")
    return "\n".join(lines)


#: months before the current one that the demo invoices, oldest first (a month with nothing billable,
#: no bundle bought, no overage, no quote accepted, issues nothing)
INVOICED_MONTHS = (3, 2, 1)


def issue_demo_invoices(app, today: date) -> list[str]:
    """Invoice the demo's last three whole months (each issued on the 1st after it), so their e-mails are
    queued with the PDFs, and record the first client's first invoice as paid by bank transfer."""
    from . import batch
    from .extensions import db
    from .models import Invoice
    from .services import payments

    issued = []
    for months in INVOICED_MONTHS:
        start = _months_before(today, months).replace(day=1)
        issued_on = _months_before(today, months - 1).replace(day=1)
        result = batch.run(app, billing.Period(start.year, start.month), issued_on)
        issued += result.issued
    with app.app_context():
        first = db.session.scalar(select(Invoice).join(Client).where(
            Client.code == CLIENTS[0].code, Invoice.kind == "invoice").order_by(Invoice.id).limit(1))
        if first is not None:
            finance = users.find_user(db.session, "finance@example.com")
            payments.record_payment(db.session, first, Money.from_minor(first.total_minor, first.currency),
                                    min(first.due_on, today), "bank transfer", first.number, finance, today=today)
            db.session.commit()
        db.session.remove()
    return issued
