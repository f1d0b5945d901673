"""The ledger is append-only: the database and the ORM both refuse to change or remove an entry."""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ledger.models import AppendOnlyViolation, Client, Entry
from ledger.money import Money
from ledger.services.bundles import buy_bundle
from tests.helpers import add_client, bill_a_month, both_engines, built_once, staff_api

postgres_only = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def entry_id(app, session, make_client) -> int:
    """One committed purchase entry of 10 incidents."""
    make_client("APPEND")
    client = session.scalar(sa.select(Client).where(Client.code == "APPEND"))
    bundle = buy_bundle(session, client, 10, date(2026, 2, 1), unit_price=Money(Decimal(90), "USD"))
    session.commit()
    entry = session.scalar(sa.select(Entry).where(Entry.lot_id == bundle.lot_id))
    assert entry.quantity == 10
    found = entry.id
    session.commit()  # end the read: PostgreSQL's TRUNCATE would wait for it
    return found


@pytest.fixture
def raw_engine(database_url):
    """A plain engine on the test database, outside the app; each connection is a new one."""
    url = sa.engine.make_url(database_url)
    # a statement waiting for a lock fails after 10 s instead of hanging the suite
    options = {"options": "-c lock_timeout=10000"} if url.get_backend_name() == "postgresql" else {}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=options)
    yield engine
    engine.dispose()


def stored_entries(engine) -> list[tuple]:
    """Every entry row as read on a new connection."""
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT id, quantity, kind, memo, effective_on FROM entries ORDER BY id")
        ).all()


@both_engines
@pytest.mark.parametrize("statement", [
    "UPDATE entries SET quantity = 5",
    "UPDATE entries SET memo = 'edited afterwards'",
    "DELETE FROM entries",
])
def test_the_database_refuses_to_change_or_delete_an_entry(entry_id, raw_engine, statement):
    before = stored_entries(raw_engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw_engine.begin() as connection:
        connection.execute(sa.text(statement))
    after = stored_entries(raw_engine)
    assert after == before
    assert [row.quantity for row in after if row.id == entry_id] == [10]


@postgres_only
def test_postgresql_refuses_to_truncate_the_entries(entry_id, raw_engine):
    before = stored_entries(raw_engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw_engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE entries CASCADE"))
    assert stored_entries(raw_engine) == before


@pytest.fixture
def sent_sql(app, session):
    """The SQL statements the app's engine sends from now on."""
    statements: list[str] = []
    engine = session.get_bind()

    def record(_conn, _cursor, statement, _parameters, _context, _many):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    yield statements
    sa.event.remove(engine, "before_cursor_execute", record)


def change_quantity(session, entry):
    entry.quantity = 5


def change_memo(session, entry):
    entry.memo = "edited afterwards"


def delete(session, entry):
    session.delete(entry)


@both_engines
@pytest.mark.parametrize("mistake", [change_quantity, change_memo, delete])
def test_the_orm_refuses_to_change_or_delete_an_entry_before_sending_any_sql(
    session, entry_id, raw_engine, sent_sql, mistake
):
    entry = session.get(Entry, entry_id)
    mistake(session, entry)
    sent_sql.clear()
    with pytest.raises(AppendOnlyViolation):
        session.flush()
    assert sent_sql == []
    session.rollback()
    assert [row.quantity for row in stored_entries(raw_engine) if row.id == entry_id] == [10]


@both_engines
def test_the_orm_refuses_an_entry_change_on_commit_too(session, entry_id, raw_engine):
    session.get(Entry, entry_id).quantity = 5
    with pytest.raises(AppendOnlyViolation):
        session.commit()
    session.rollback()
    assert [row.quantity for row in stored_entries(raw_engine) if row.id == entry_id] == [10]


# --- a rewriting insert ---------------------------------------------------------------------------

@built_once(after=("rate_card",))
def billed(app, after):
    """February billed and archived for two clients: entries, invoices and their documents."""
    bill_a_month(app, staff_api(app), functools.partial(add_client, app))


def row_of(engine, table: str, where: str = "1 = 1") -> dict:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text(f"SELECT * FROM {table} WHERE {where} ORDER BY id LIMIT 1"))
                    .mappings().one())


def insert_or_replace(engine, table: str, row: dict, changes: dict) -> None:
    """SQLite's ``INSERT OR REPLACE`` of ``row`` with ``changes``: a delete and an insert in one."""
    values = {**row, **changes}
    columns = ", ".join(values)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT OR REPLACE INTO {table} ({columns}) "
                                   f"VALUES ({', '.join(':' + name for name in values)})"), values)


REWRITES = [
    # (table, which row, what a REPLACE would change it to)
    ("entries", "quantity < 0", {"quantity": -99}),
    ("invoices", "kind = 'invoice'", {"total_minor": 1, "subtotal_minor": 1, "tax_minor": 0}),
    ("invoices", "kind = 'invoice'", {"id": 10_000, "number": "INV-2026-99999", "total_minor": 1,
                                      "subtotal_minor": 1, "tax_minor": 0}),  # the partial unique index
    ("invoice_lines", "1 = 1", {"amount_minor": 1}),
    ("invoice_lines", "1 = 1", {"id": 10_000, "amount_minor": 1}),  # (invoice, position) is held
    ("invoice_sources", "1 = 1", {"id": 10_000}),  # its key is held
    ("invoice_documents", "1 = 1", {"sha256": "0" * 64}),
    ("invoice_documents", "1 = 1", {"id": 10_000, "sha256": "0" * 64}),  # the invoice has one
]


@pytest.mark.parametrize(("table", "which", "changes"), REWRITES)
def test_sqlite_refuses_an_insert_or_replace_that_would_rewrite_an_append_only_row(
        billed, raw_engine, table, which, changes):
    before = row_of(raw_engine, table, which)
    with pytest.raises(sa.exc.IntegrityError, match=f"{table} are append-only"):
        insert_or_replace(raw_engine, table, before, changes)
    assert row_of(raw_engine, table, f"id = {before['id']}") == before
    with raw_engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE id = 10000")).scalar() == 0


def test_sqlite_still_takes_new_rows_on_the_append_only_tables(billed, app, session):
    from ledger.services.invoicing import issue_invoice

    client = session.scalar(sa.select(Client).where(Client.code == "ACME"))
    buy_bundle(session, client, 5, date(2026, 3, 2), unit_price=Money(Decimal(90), "USD"))
    invoice = issue_invoice(session, client, "2026-03", date(2026, 4, 1), None)
    session.commit()
    assert invoice.number == "INV-2026-00003"


@postgres_only
def test_postgresql_refuses_an_upsert_that_would_rewrite_an_entry(entry_id, raw_engine):
    before = stored_entries(raw_engine)
    with pytest.raises(sa.exc.DBAPIError, match="entries are append-only: UPDATE refused"), \
            raw_engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO entries SELECT * FROM entries WHERE id = :id "
            "ON CONFLICT (id) DO UPDATE SET quantity = -99"), {"id": entry_id})
    assert stored_entries(raw_engine) == before
