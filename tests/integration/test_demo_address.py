"""`make run` serves on its HOST and PORT, and the demo tells a newcomer that address."""

import pytest
from click.testing import CliRunner

from ledger.cli import main as ledger_command

#: loads the whole demo: left out of the fast loop
pytestmark = pytest.mark.slow


def test_the_demo_prints_the_address_make_run_serves(app):
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "LEDGER_SECRET_KEY": "t",
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], "LEDGER_PUBLIC_URL": "http://127.0.0.1:8123"}
    result = CliRunner().invoke(ledger_command, ["demo", "--today", "2026-11-20"], env=env)
    assert result.exit_code == 0, result.output
    assert "Sign in at http://127.0.0.1:8123." in result.output
    assert "http://127.0.0.1:8123/api/v1/clients/ACME/balance" in result.output
    assert "5000" not in result.output
