"""The receivables add up: over random invoices, credit notes and payments, every client's
statement closes on the sum of its invoices' amounts due, and the aging buckets hold the same."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger import batch
from ledger.db import acquire_write_lock
from ledger.errors import LedgerError
from ledger.extensions import db
from ledger.models import Client, Invoice
from ledger.services import invoicing, payments, receivables
from ledger.services.bundles import buy_bundle
from tests.helpers import examples

AS_OF = date(2026, 11, 30)
MONTHS = ("2026-03", "2026-04", "2026-05")

#: per client and month: incidents bought (0: no invoice); then actions on the issued invoices
scenarios = st.fixed_dictionaries({
    "bundles": st.lists(st.lists(st.integers(0, 7), min_size=len(MONTHS), max_size=len(MONTHS)),
                        min_size=1, max_size=2),
    "actions": st.lists(st.tuples(st.sampled_from(["pay", "credit", "reverse"]), st.integers(0, 20),
                                  st.integers(1, 100), st.integers(0, 200)), max_size=8),
})


@pytest.fixture
def fresh(app, rate_card, make_client):
    """Run ``scenario`` on a database emptied of invoices: returns the clients' codes."""
    made = iter(range(10**6))

    def run(scenario) -> list[Client]:
        codes = []
        for row in scenario["bundles"]:
            code = f"P{next(made)}"
            make_client(code, tax_rate=Decimal("7.5"))
            codes.append(code)
            with app.app_context():
                client = db.session.scalar(select(Client).where(Client.code == code))
                for month, quantity in zip(MONTHS, row, strict=True):
                    if quantity:
                        buy_bundle(db.session, client, quantity, date.fromisoformat(month + "-05"), user=None)
                db.session.commit()
        for month in MONTHS:
            batch.run(app, month, date.fromisoformat(month + "-28") + timedelta(days=5), workers=1)
        return codes

    return run


def _act(session, invoices, action) -> None:
    kind, which, percent, days = action
    invoice = invoices[which % len(invoices)]
    try:
        with session.begin_nested():
            if kind == "pay":
                due = payments.standing(session, invoice, AS_OF).amount_due
                amount = Decimal(max(due * percent // 100, 1)) / 100
                paid_on = min(invoice.issued_on + timedelta(days=days), AS_OF)
                payments.record_payment(session, invoice, amount, paid_on, "transfer", None, None, today=AS_OF)
            elif kind == "credit":
                lines = [1 + which % len(invoice.lines)] if percent % 2 else None
                invoicing.issue_credit_note(session, invoice, "test", lines, AS_OF)
            else:
                paid = payments.payments_of(session, invoice)
                done = payments.reversed_ids(session, paid)
                target = next((p for p in paid if p.reverses_id is None and p.id not in done), None)
                if target is not None:
                    payments.reverse_payment(session, target, "bounced", None, today=AS_OF)
    except LedgerError:
        pass  # refused (overpayment, nothing left to credit): nothing posted, which is the point


@settings(max_examples=examples(12), deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios)
def test_statements_close_on_the_amounts_due_and_the_aging_buckets_add_up_to_them(app, fresh, scenario):
    codes = fresh(scenario)
    with app.app_context():
        try:
            _check(db.session, codes, scenario)
        finally:
            db.session.remove()  # an example that failed leaves no lock for the next one's batch


def _check(session, codes: list[str], scenario) -> None:
    invoices = session.scalars(select(Invoice).join(Client).where(
        Client.code.in_(codes), Invoice.kind == "invoice").order_by(Invoice.id)).all()
    acquire_write_lock(session)  # as a request does first: savepoints below must not end the transaction
    for action in scenario["actions"] if invoices else ():
        _act(session, invoices, action)
    session.commit()

    aging = {block.currency: block for block in receivables.aging(session, AS_OF)}
    mine = [item for block in aging.values() for item in block.items if item.invoice.client.code in codes]
    for code in codes:
        client = session.scalar(select(Client).where(Client.code == code))
        own = [i for i in invoices if i.client_id == client.id]
        due = sum(s.amount_due for s in payments.standings(session, own, AS_OF).values())
        statement = receivables.statement(session, client, date(2026, 4, 15), AS_OF)

        assert statement.closing == due
        assert sum(item.standing.amount_due for item in mine if item.invoice.client_id == client.id) == due
    all_due = sum(s.amount_due for s in payments.standings(session, invoices, AS_OF).values())
    assert sum(item.standing.amount_due for item in mine) == all_due
    assert all(block.total == sum(i.standing.amount_due for i in block.items) for block in aging.values())
