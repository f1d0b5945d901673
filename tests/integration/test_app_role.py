"""On PostgreSQL the app runs as a role that can append and read, but cannot switch the ledger's
triggers off, drop them, or change or remove an entry (`ledger db grant ROLE`)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.pool import NullPool

from ledger import batch, create_app
from ledger.cli import main as ledger_command
from ledger.extensions import db
from tests.helpers import Api, make_api_token, post_created

postgres_only = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@postgres_only
def test_the_app_runs_as_a_granted_role_that_cannot_switch_the_ledger_off(
        app, rate_card, app_role):
    role, role_url = app_role
    owner_env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "LEDGER_SECRET_KEY": "t"}
    granted = CliRunner().invoke(ledger_command, ["db", "grant", role], env=owner_env)
    assert granted.exit_code == 0, granted.output

    served = create_app({"SQLALCHEMY_DATABASE_URI": role_url, "SECRET_KEY": "t", "TESTING": True,
                         "INVOICE_DIR": app.config["INVOICE_DIR"]})  # one archive per database
    try:
        api = Api(served.test_client(), make_api_token(served, "admin"))
        post_created(api, "/clients", {
            "code": "ROLE", "name": "Role Ltd", "currency": "USD", "locale": "en_US", "tax_rate": "10",
            "term_start": "2026-01-01", "maintenance_fee": "0.00", "overage_policy": "bill"})
        post_created(api, "/clients/ROLE/bundles", {"quantity": 1, "purchased_on": "2026-02-02"})
        case = post_created(api, "/clients/ROLE/cases", {
            "subject": "Down", "severity": "major", "opened_at": "2026-02-03T08:00:00+00:00"})["number"]
        for responded in ("2026-02-03T09:00:00+00:00",):
            post_created(api, f"/cases/{case}/responses", {"responded_at": responded, "technician": "T"})
        post_created(api, f"/cases/{case}/appointments", {  # beyond the bundle: lots change, overage
            "started_at": "2026-02-04T09:00:00+00:00", "ended_at": "2026-02-04T10:00:00+00:00",
            "technician": "T"})
        assert batch.run(served, "2026-02", date(2026, 3, 1), workers=1).rendered == 1
        assert api.get("/clients/ROLE/balance?as_of=2026-02-28").status_code == 200
        assert served.test_client().get("/readyz").status_code == 200
    finally:
        with served.app_context():
            db.session.remove()
            db.engine.dispose()

    as_role = sa.create_engine(role_url, poolclass=NullPool)
    try:
        for statement in ("ALTER TABLE entries DISABLE TRIGGER entries_append_only",
                          "ALTER TABLE entries DISABLE TRIGGER ALL",
                          "DROP TRIGGER entries_append_only ON entries",
                          "UPDATE entries SET quantity = -99",
                          "DELETE FROM entries",
                          "TRUNCATE entries CASCADE",
                          "UPDATE invoices SET total_minor = 1",
                          "CREATE TABLE mine (id int)",
                          "UPDATE alembic_version SET version_num = '0001'"):
            with pytest.raises(sa.exc.DBAPIError, match="must be owner|permission denied|append-only"), \
                    as_role.begin() as connection:
                connection.exec_driver_sql(statement)
    finally:
        as_role.dispose()
