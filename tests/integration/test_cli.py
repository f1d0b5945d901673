"""The ``ledger`` command line, run with click's CliRunner against a SQLite file of its own."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger import create_app
from ledger.cli import main
from ledger.demo_sla import RESERVE
from ledger.extensions import db
from ledger.models import ApiToken, Client, Entry, Lot, RateCard, TermClose, User
from ledger.services import balances

#: the day the demo pretends is today, so that what it loads is the same on every run
DEMO_TODAY = date(2026, 11, 22)


def use_database(monkeypatch, folder: Path) -> Path:
    """Point the command line at a SQLite file, instance folder and archive inside ``folder``."""
    path = folder / "ledger.sqlite3"
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("LEDGER_INVOICE_DIR", str(folder / "invoices"))
    return path


def ledger(*args: str):
    """Run ``ledger ARGS``; a failure is an exit code and a message, never a traceback."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@contextmanager
def database():
    """The app's session on the database the command line uses."""
    app = create_app()
    with app.app_context():
        try:
            yield db.session
        finally:
            db.session.remove()
            db.engine.dispose()


@contextmanager
def api():
    """A Flask test client of an app on the database the command line uses."""
    app = create_app()
    try:
        yield app.test_client()
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """A database after ``ledger init`` and ``ledger demo``, made once; and what demo printed."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        path = use_database(monkeypatch, folder)
        assert ledger("init").exit_code == 0
        result = ledger("demo", "--today", DEMO_TODAY.isoformat())
    assert result.exit_code == 0, result.output
    return path, result


@pytest.fixture
def fresh(tmp_path, monkeypatch) -> Path:
    """An empty SQLite file for the command line (no schema yet)."""
    return use_database(monkeypatch, tmp_path)


@pytest.fixture
def demo(demo_template, tmp_path, monkeypatch):
    """A copy of the demo database for this test; returns what ``ledger demo`` printed."""
    template, result = demo_template
    shutil.copyfile(template, use_database(monkeypatch, tmp_path))
    return result


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def client(session, code: str) -> Client:
    return session.scalar(sa.select(Client).where(Client.code == code))


# --- init and demo ---------------------------------------------------------------------


def test_init_creates_the_schema_and_is_safe_to_run_again(fresh):
    first = ledger("init")
    second = ledger("init")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "database ready" in second.stdout
    with database() as session:
        assert count(session, Client) == 0
    assert ledger("users", "create", "ops@example.com", "--role", "admin").exit_code == 0


def test_init_seeds_the_rate_card_in_the_home_currency_once_and_a_fresh_install_is_usable(fresh):
    first = ledger("init")
    second = ledger("init")

    assert "seeded the USD rate card, in force from 2000-01-01" in first.stdout
    assert "seeded" not in second.stdout
    with database() as session:
        cards = session.execute(sa.select(RateCard.currency, RateCard.version, RateCard.effective_from)).all()
    assert cards == [("USD", 1, date(2000, 1, 1))]
    token = ledger("users", "create", "fin@example.com", "--role", "finance").exit_code == 0 and \
        ledger("tokens", "create", "fin@example.com").stdout.strip()
    with api() as client:
        card = client.get("/api/v1/rate-card", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (card["currency"], card["incident_price"], card["overage_price"]) == ("USD", "200.00", "250.00")
    assert [(r["code"], r["hourly"], r["daily"]) for r in card["roles"]] == [
        ("analyst", "150.00", "1200.00"), ("consultant", "125.00", "1000.00"), ("developer", "125.00", "1000.00")]


def test_init_seeds_the_card_in_ledger_currency_and_not_into_a_database_that_has_one(fresh, monkeypatch):
    monkeypatch.setenv("LEDGER_CURRENCY", "EUR")
    assert ledger("init").exit_code == 0
    monkeypatch.setenv("LEDGER_CURRENCY", "CAD")
    assert ledger("init").exit_code == 0

    with database() as session:
        assert session.execute(sa.select(RateCard.currency, RateCard.effective_from)).all() == [
            ("EUR", date(2000, 1, 1))]


def test_init_refuses_a_home_currency_that_is_not_one(fresh, monkeypatch):
    monkeypatch.setenv("LEDGER_CURRENCY", "EURO")

    result = ledger("init")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: currency: ")


def test_demo_refuses_a_database_without_the_schema(fresh):
    result = ledger("demo")

    assert result.exit_code != 0
    assert "ledger init" in result.stderr


def test_demo_loads_three_clients_in_three_currencies(demo):
    with database() as session:
        clients = session.scalars(sa.select(Client).order_by(Client.code)).all()
        assert [c.code for c in clients] == ["ACME", "BRAU", "NORD"]
        assert len({c.currency for c in clients}) == 3


def test_demo_prints_the_sign_in_emails_and_tokens_that_work(demo):
    printed = demo.stdout
    for email in ("admin@example.com", "manager@example.com", "finance@example.com",
                  "it@acme.example.com"):
        assert email in printed
    tokens = re.findall(r"\bsl_[\w-]+", printed)
    assert len(set(tokens)) >= 2

    with api() as http:
        for token in set(tokens):
            answer = http.get("/api/v1/clients/ACME", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
            assert answer.get_json()["code"] == "ACME"


def test_demo_twice_refuses_and_demo_if_empty_succeeds(demo):
    again = ledger("demo", "--today", DEMO_TODAY.isoformat())
    quietly = ledger("demo", "--if-empty")

    assert again.exit_code != 0
    assert "--if-empty" in again.stderr
    assert quietly.exit_code == 0
    assert "demo-password" in quietly.stdout
    with database() as session:
        assert count(session, Client) == 3


def test_after_the_demo_nord_has_a_closed_term_with_a_rollover_lot(demo):
    with database() as session:
        nord = client(session, "NORD")
        closes = session.scalars(sa.select(TermClose).where(TermClose.client_id == nord.id)).all()
        assert closes, "NORD's first term is not closed"
        rollover = session.scalars(
            sa.select(Lot).where(Lot.client_id == nord.id, Lot.kind == "rollover")
        ).all()
        assert [lot.quantity for lot in rollover] == [closes[0].rolled_over]
        assert 0 < rollover[0].quantity <= 15
        carried_in = session.scalars(
            sa.select(Entry).where(Entry.lot_id == rollover[0].id, Entry.kind == "rollover_in")
        ).all()
        assert [e.quantity for e in carried_in] == [rollover[0].quantity]


def test_after_the_demo_brau_on_the_block_policy_is_nearly_out(demo):
    with database() as session:
        brau = client(session, "BRAU")
        assert brau.overage_policy == "block"
        available = balances.balance(session, brau, DEMO_TODAY).available
        # the service-level cases keep a few incidents in reserve so the client can still open one
        assert 0 <= available <= RESERVE
        overage = session.scalars(
            sa.select(Entry).where(Entry.client_id == brau.id, Entry.lot_id.is_(None))
        ).all()
        assert overage == []


# --- users and tokens ------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    pytest.param(("new-admin@example.com", "--role", "admin", "--password", "long enough secret"),
                 id="admin-with-password"),
    pytest.param(("finance2@example.com", "--role", "finance"), id="finance-token-only"),
    pytest.param(("it2@acme.example.com", "--role", "client", "--client", "ACME"),
                 id="client-user"),
])
def test_users_create_makes_a_user(demo, args):
    result = ledger("users", "create", *args)

    assert result.exit_code == 0, result.output
    with database() as session:
        user = session.scalar(sa.select(User).where(User.email == args[0]))
        assert user.role == args[2]
        client_code = args[args.index("--client") + 1] if "--client" in args else None
        assert (user.client.code if user.client else None) == client_code


@pytest.mark.parametrize("args, field", [
    pytest.param(("someone@acme.example.com", "--role", "client"), "client",
                 id="client-user-without-client"),
    pytest.param(("someone@example.com", "--role", "admin", "--client", "ACME"), "client",
                 id="admin-with-client"),
    pytest.param(("someone@example.com", "--role", "client", "--client", "NOPE"), "client",
                 id="unknown-client"),
    pytest.param(("not-an-email", "--role", "admin"), "email", id="not-an-email"),
    pytest.param(("manager@example.com", "--role", "admin"), "email", id="email-taken"),
    pytest.param(("someone@example.com", "--role", "admin", "--password", "short"), "password",
                 id="short-password"),
])
def test_users_create_refuses_bad_input_naming_the_field(demo, args, field):
    with database() as session:
        users_before = count(session, User)

    result = ledger("users", "create", *args)

    assert result.exit_code != 0
    assert result.stderr.startswith(f"Error: {field}: ")
    with database() as session:
        assert count(session, User) == users_before


def test_users_create_refuses_an_unknown_role(demo):
    result = ledger("users", "create", "someone@example.com", "--role", "owner")

    assert result.exit_code != 0
    assert "--role" in result.stderr


def test_tokens_create_prints_only_the_token_and_it_works_against_the_api(fresh):
    ledger("init")
    ledger("users", "create", "ops@example.com", "--role", "admin")

    result = ledger("tokens", "create", "ops@example.com")

    assert result.exit_code == 0
    token = result.stdout.strip()
    assert result.stdout == f"{token}\n" and " " not in token
    with api() as http:
        answer = http.get("/api/v1/clients", headers={"Authorization": f"Bearer {token}"})
        wrong = http.get("/api/v1/clients", headers={"Authorization": f"Bearer {token}x"})
    assert answer.status_code == 200
    assert answer.get_json()["items"] == []
    assert wrong.status_code == 401


def test_tokens_create_with_a_name_and_an_expiry_still_prints_only_the_token(fresh):
    ledger("init")
    ledger("users", "create", "ops@example.com", "--role", "admin")
    expires = date.today().replace(year=date.today().year + 1).isoformat()

    result = ledger("tokens", "create", "ops@example.com", "--name", "Nightly export", "--expires", expires)

    assert result.exit_code == 0
    token = result.stdout.strip()
    assert result.stdout == f"{token}\n" and token.startswith("sl_")
    with database():
        row = db.session.scalar(sa.select(ApiToken))
        assert row.name == "Nightly export" and row.expires_at.date().isoformat() == expires


def test_tokens_create_refuses_an_expiry_in_the_past_and_prints_no_token(fresh):
    ledger("init")
    ledger("users", "create", "ops@example.com", "--role", "admin")

    result = ledger("tokens", "create", "ops@example.com", "--expires", "2020-01-01")

    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.startswith("Error: expires: ")


def test_tokens_create_for_an_unknown_user_prints_no_token(fresh):
    ledger("init")

    result = ledger("tokens", "create", "nobody@example.com")

    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.startswith("Error: email: ")


# --- terms -----------------------------------------------------------------------------


def test_terms_close_twice_closes_nothing_the_second_time(fresh):
    assert ledger("init").exit_code == 0
    with database() as session:
        from ledger.services.bundles import buy_bundle
        from ledger.services.clients import create_client

        for code in ("ACME", "BRAU"):
            client = create_client(session, code=code, name=code, currency="USD", locale="en_US",
                                   tax_rate=Decimal(0), term_start=date(2025, 1, 1))
            buy_bundle(session, client, 40, date(2025, 2, 1))
        session.commit()
    first = ledger("terms", "close", "--as-of", "2026-01-31")
    with database() as session:
        entries_after_first = count(session, Entry)

    second = ledger("terms", "close", "--as-of", "2026-01-31")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.stdout.splitlines() == [
        f"{code}: term ending 2025-12-31 closed, 15 rolled over, 25 expired" for code in ("ACME", "BRAU")]
    assert second.stdout.strip() == "no term to close"
    with database() as session:
        assert count(session, Entry) == entries_after_first


def test_terms_close_needs_a_date(demo):
    result = ledger("terms", "close", "--as-of", "next tuesday")

    assert result.exit_code != 0
    assert "--as-of" in result.stderr
