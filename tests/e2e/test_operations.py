"""Operating the served app: a restore refuses a database a server uses; a killed batch leaves no worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger import create_app
from ledger.cli import main as ledger_command
from ledger.extensions import db
from ledger.models import Client
from ledger.money import Money
from ledger.services.backup import create_backup
from ledger.services.bundles import buy_bundle
from ledger.services.clients import create_client
from tests.helpers import (
    both_engines,
    ledger_executable,
    ready_to_invoice,
    running_server,
    server_environment,
)

pytestmark = pytest.mark.served


def ledger(database_url: str, folder: Path, *args: str):
    env = {"LEDGER_DATABASE_URL": database_url, "LEDGER_INVOICE_DIR": str(folder / "invoices"),
           "LEDGER_SECRET_KEY": "test-secret"}
    return CliRunner().invoke(ledger_command, list(args), env=env, catch_exceptions=False)


@both_engines
def test_restore_refuses_while_a_served_app_uses_the_database_and_says_how_to_stop_it(
        database_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t", "TESTING": True})
    with app.app_context():
        create_backup(db.engine, tmp_path / "served" / "invoices", tmp_path / "ledger.tar.gz")
        db.engine.dispose()

    with running_server(database_url, tmp_path / "served") as server:
        refused = ledger(database_url, tmp_path / "served", "restore", "--force",
                         str(tmp_path / "ledger.tar.gz"))
        assert refused.exit_code == 1
        assert "is in use by a running `ledger serve`" in refused.output
        assert "stop it first" in refused.output and "nothing was restored" in refused.output
        assert server.api.get("/rate-card").status_code in (200, 404)  # still serving, untouched

    restored = ledger(database_url, tmp_path / "served", "restore", "--force", str(tmp_path / "ledger.tar.gz"))
    assert restored.exit_code == 0, restored.output


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def forty_clients_to_invoice(database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t", "TESTING": True})
    with app.app_context():
        ready_to_invoice(app)
        for n in range(40):
            client = create_client(db.session, code=f"K{n:02d}", name=f"Client {n}", currency="USD",
                                   locale="en_US", tax_rate=Decimal(10), term_start=date(2026, 1, 1))
            buy_bundle(db.session, client, 10, date(2026, 2, 2), unit_price=Money(Decimal(90), "USD"))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Client)) == 40
        db.engine.dispose()


def test_a_killed_invoice_run_leaves_no_render_worker_behind(database_url, tmp_path):
    forty_clients_to_invoice(database_url)
    env = server_environment(database_url, tmp_path)
    with open(tmp_path / "run.log", "wb") as log:
        run = subprocess.Popen([ledger_executable(), "invoices", "run", "--period", "2026-02",
                                "--today", "2026-03-01", "--workers", "2"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
            workers = children_of(run.pid)
            time.sleep(0.05)
        assert len(workers) == 2, (tmp_path / "run.log").read_text()

        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)

        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in workers if alive(pid)] == []
    finally:
        if run.poll() is None:
            run.kill()
        for pid in workers:  # reparented by now: only their ids find them
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
