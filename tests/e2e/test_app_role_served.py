"""On PostgreSQL the served app (``ledger serve``) runs as the role ``ledger db grant`` prepares: it
posts and invoices through the API, and the same role cannot switch the ledger's triggers off,
drop them, or change, remove or empty its entries."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ledger import create_app
from ledger.extensions import db
from tests.helpers import (
    ServedApi,
    books_findings,
    ledger_executable,
    make_api_token,
    running_server,
    server_environment,
)

pytestmark = [pytest.mark.served, pytest.mark.postgres]

postgres_only = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)

#: what an attacker holding the served app's connection would try first; each must be refused
SWITCHING_THE_LEDGER_OFF = (
    "ALTER TABLE entries DISABLE TRIGGER ALL",
    "ALTER TABLE entries DISABLE TRIGGER entries_append_only",
    "DROP TRIGGER entries_append_only ON entries",
    "UPDATE entries SET quantity = -99",
    "DELETE FROM entries",
    "TRUNCATE entries CASCADE",
)


def grant(owner_url: str, role: str, folder) -> None:
    """Run ``ledger db grant ROLE`` as the database's owner, as an operator would after ``ledger init``."""
    done = subprocess.run([ledger_executable(), "db", "grant", role], env=server_environment(owner_url, folder),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{role} may now run the app" in done.stdout


@postgres_only
def test_the_served_app_runs_as_the_granted_role_and_that_role_cannot_switch_the_triggers_off(
        database_url, app_role, tmp_path):
    role, role_url = app_role
    folder = tmp_path / "served"
    folder.mkdir()
    grant(database_url, role, folder)
    owner = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t", "TESTING": True,
                        "INVOICE_DIR": str(folder / "invoices")})

    with running_server(role_url, folder, set_up_as=database_url) as server:
        api = server.api
        client = api.post("/clients", {
            "code": "ROLE", "name": "Role Ltd", "currency": "USD", "locale": "en_US", "tax_rate": "10",
            "term_start": "2026-01-01", "maintenance_fee": "0.00", "overage_policy": "bill"})
        assert client.status_code == 201, client.text
        bundle = api.post("/clients/ROLE/bundles", {"quantity": 5, "purchased_on": "2026-02-02"})
        assert bundle.status_code == 201, bundle.text
        case = api.post("/clients/ROLE/cases", {
            "subject": "Mail down", "severity": "major", "opened_at": "2026-02-03T08:00:00+00:00"})
        assert case.status_code == 201, case.text
        response = api.post(f"/cases/{case.json()['number']}/responses", {
            "responded_at": "2026-02-03T09:00:00+00:00", "technician": "Tess"})
        assert response.status_code == 201, response.text
        assert response.json()["incidents_charged"] == 1

        finance = ServedApi(server.base_url, make_api_token(owner, "finance"))  # issuing is finance's
        run = finance.post("/invoices/run", {"period": "2026-02"})
        assert run.status_code == 200, run.text
        assert (len(run.json()["issued"]), run.json()["failed"]) == (1, [])
        invoice = finance.get(f"/invoices/{run.json()['issued'][0]}")
        assert invoice.status_code == 200, invoice.text
        assert invoice.json()["client"] == "ROLE" and invoice.json()["sha256"]
        assert api.get("/clients/ROLE/balance", as_of="2026-02-28").json()["incidents"]["available"] == 4

    as_role = sa.create_engine(role_url, poolclass=NullPool)
    try:
        for statement in SWITCHING_THE_LEDGER_OFF:
            with pytest.raises(sa.exc.ProgrammingError, match="must be owner|permission denied"), \
                    as_role.begin() as connection:
                connection.exec_driver_sql(statement)
    finally:
        as_role.dispose()

    assert books_findings(owner) == []  # the triggers and the entries are as the app left them
    with owner.app_context():
        db.engine.dispose()
