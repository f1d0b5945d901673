"""Health checks at the root, the database file's permissions, and commands that need a current schema."""

from __future__ import annotations

import stat
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from ledger import create_app
from ledger.cli import main as ledger_command
from ledger.extensions import db
from tests.helpers import both_engines


def set_schema_revision(app, revision: str) -> None:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


@both_engines
def test_healthz_says_the_process_is_up(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@both_engines
def test_readyz_is_ready_when_the_database_schema_and_archive_are(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_503_naming_an_out_of_date_schema(app):
    set_schema_revision(app, "0001")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable",
                                   "failed": {"schema": "not current: run `ledger init`"}}


def test_readyz_answers_503_naming_an_archive_it_cannot_write(app, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive should be")
    app.config["INVOICE_DIR"] = str(blocker / "invoices")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    failed = response.get_json()["failed"]
    assert list(failed) == ["archive"] and "is not writable" in failed["archive"]


def test_readyz_answers_503_when_the_database_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody:x@127.0.0.1:9/none",
                      "SECRET_KEY": "test", "TESTING": True, "INVOICE_DIR": str(tmp_path / "invoices")})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert set(response.get_json()["failed"]) == {"database", "schema"}


def test_a_new_sqlite_database_file_is_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))
    path = tmp_path / "instance" / "ledger.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "test"})
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(sa.text("CREATE TABLE probe (id INTEGER)"))
        db.engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for companion in Path(path.parent).glob("ledger.sqlite3-*"):
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion


def test_ledger_invoices_run_refuses_an_out_of_date_schema(app):
    set_schema_revision(app, "0001")
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], "LEDGER_SECRET_KEY": "test-secret"}
    result = CliRunner().invoke(ledger_command, ["invoices", "run", "--period", "2026-02"], env=env)
    assert result.exit_code == 1
    assert "the database schema is not current: run `ledger init` first" in result.output
