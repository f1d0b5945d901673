"""The invoice archive in an S3-compatible object store (SeaweedFS on 127.0.0.1, started by the suite).

Issuing writes every PDF once into the bucket with the SHA-256 the database records; the
store refuses a second write of a key; `ledger verify` catches an object changed behind
the app's back; the pages and the API serve the PDFs from the store; a backup taken from
the store restores into another one; /readyz fails while the store is unreachable.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger import batch, create_app, storage
from ledger.cli import main as ledger_command
from ledger.extensions import db
from ledger.models import Invoice, InvoiceDocument
from ledger.services import archive
from tests.helpers import (
    BILLED_ON,
    BILLED_PERIOD,
    Api,
    bill_a_month,
    both_engines,
    fresh_bucket,
    overwrite_s3_object,
    post_created,
    s3_objects,
)

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def recorded_documents(app) -> dict[str, str]:
    """{path under the archive: recorded SHA-256} of every archived document."""
    with app.app_context():
        rows = db.session.execute(sa.select(InvoiceDocument.path, InvoiceDocument.sha256)).all()
        db.session.remove()
    return dict(rows)


def ledger(app, environment: dict, *args: str):
    """Run ``ledger ARGS`` on ``app``'s database with the archive in the store ``environment`` names."""
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "LEDGER_SECRET_KEY": "test-secret",
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], **environment}
    return CliRunner().invoke(ledger_command, list(args), env=env, catch_exceptions=False)


@both_engines
def test_the_month_s_batch_writes_every_pdf_to_the_store_with_the_recorded_sha256(
        s3_app, api, make_client, rate_card, s3_archive_url, s3_endpoint):
    bill_a_month(s3_app, api, make_client)

    stored = s3_objects(s3_archive_url, s3_endpoint)
    recorded = recorded_documents(s3_app)
    assert sorted(recorded) == ["2026/INV-2026-00001.pdf", "2026/INV-2026-00002.pdf"]
    assert {key: hashlib.sha256(data).hexdigest() for key, data in stored.items()} == recorded
    assert all(data.startswith(b"%PDF-") for data in stored.values())
    assert not Path(s3_app.config["INVOICE_DIR"]).exists()  # nothing went to the local folder


def test_the_store_refuses_a_second_write_of_a_key_and_keeps_the_first(s3_archive_url, s3_endpoint):
    store = storage.S3Store(s3_archive_url, s3_endpoint)
    store.put_once("2026/INV-2026-00001.pdf", b"%PDF-1.7 as issued")

    with pytest.raises(storage.AlreadyStored, match="exists already"):
        store.put_once("2026/INV-2026-00001.pdf", b"%PDF-1.7 a second rendering")

    assert store.get("2026/INV-2026-00001.pdf") == b"%PDF-1.7 as issued"


def test_of_many_hosts_writing_one_key_at_once_exactly_one_succeeds(s3_archive_url, s3_endpoint):
    store = storage.S3Store(s3_archive_url, s3_endpoint)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        try:
            store.put_once("2026/INV-2026-00007.pdf", f"%PDF-1.7 writer {n}".encode())
            outcomes.append(f"stored {n}")
        except storage.AlreadyStored:
            outcomes.append("refused")

    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    winners = [outcome for outcome in outcomes if outcome.startswith("stored")]
    assert len(winners) == 1 and outcomes.count("refused") == 7
    assert store.get("2026/INV-2026-00007.pdf") == f"%PDF-1.7 writer {winners[0].split()[1]}".encode()


@pytest.mark.unsound_books
def test_ledger_verify_names_a_pdf_changed_in_the_store(s3_app, api, make_client, rate_card, s3_archive_url,
                                                        s3_endpoint, s3_environment):
    bill_a_month(s3_app, api, make_client)
    original = s3_objects(s3_archive_url, s3_endpoint)["2026/INV-2026-00002.pdf"]
    overwrite_s3_object(s3_archive_url, s3_endpoint, "2026/INV-2026-00002.pdf", original + b"\n% appended")

    checked = ledger(s3_app, s3_environment, "verify")

    assert checked.exit_code == 1
    assert (f"documents: INV-2026-00002: {s3_archive_url}/2026/INV-2026-00002.pdf has SHA-256"
            in checked.output)
    assert "INV-2026-00001" not in checked.output


@pytest.mark.unsound_books
def test_ledger_verify_names_a_pdf_missing_from_the_store(s3_app, api, make_client, rate_card, s3_archive_url,
                                                          s3_endpoint, s3_environment):
    bill_a_month(s3_app, api, make_client)
    storage.S3Store(s3_archive_url, s3_endpoint).remove("2026/INV-2026-00001.pdf")

    checked = ledger(s3_app, s3_environment, "verify")

    assert checked.exit_code == 1
    assert f"documents: INV-2026-00001: {s3_archive_url}/2026/INV-2026-00001.pdf is missing" in checked.output


def test_the_api_and_the_pages_serve_the_pdf_from_the_store_byte_for_byte(
        s3_app, api, make_client, make_token, rate_card, s3_archive_url, s3_endpoint):
    bill_a_month(s3_app, api, make_client)
    stored = s3_objects(s3_archive_url, s3_endpoint)["2026/INV-2026-00001.pdf"]

    through_api = Api(s3_app.test_client(), make_token("finance")).get("/invoices/INV-2026-00001/pdf")
    assert through_api.status_code == 200 and through_api.data == stored

    with s3_app.app_context():
        client_code = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV-2026-00001")).client.code
    portal = Api(s3_app.test_client(), make_token("client", client_code)).get("/invoices/INV-2026-00001/pdf")
    assert portal.status_code == 200 and portal.data == stored


@pytest.mark.unsound_books
def test_a_pdf_changed_in_the_store_is_refused_on_download(s3_app, api, make_client, make_token, rate_card,
                                                           s3_archive_url, s3_endpoint):
    bill_a_month(s3_app, api, make_client)
    overwrite_s3_object(s3_archive_url, s3_endpoint, "2026/INV-2026-00001.pdf", b"%PDF-1.7 forged")

    response = Api(s3_app.test_client(), make_token("finance")).get("/invoices/INV-2026-00001/pdf")

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "archive_damaged"


# --- backup and restore ---------------------------------------------------------------------------

@pytest.fixture
def other_s3_app(s3_app, sqlite_template, tmp_path, s3_endpoint):
    """A second app, on a fresh SQLite database, with its archive in a bucket of its own."""
    path = tmp_path / "other.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    other = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "test-secret",
                        "TESTING": True, "INVOICE_DIR": str(tmp_path / "other-invoices"),
                        "ARCHIVE_URL": f"s3://{fresh_bucket(s3_endpoint)}/restored", "S3_ENDPOINT": s3_endpoint})
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_backup_of_the_store_restores_into_another_store_with_the_same_pdfs(
        s3_app, api, make_client, make_token, rate_card, other_s3_app, s3_archive_url, s3_endpoint,
        s3_environment, tmp_path):
    bill_a_month(s3_app, api, make_client)
    finance = make_token("finance")  # backed up with its user
    made = ledger(s3_app, s3_environment, "backup", str(tmp_path / "ledger.tar.gz"))
    assert made.exit_code == 0, made.output
    assert "2 archived file(s)" in made.output

    restored = ledger(other_s3_app, {**s3_environment, "LEDGER_ARCHIVE_URL": other_s3_app.config["ARCHIVE_URL"]},
                      "restore", str(tmp_path / "ledger.tar.gz"))

    assert restored.exit_code == 0, restored.output
    assert "the books are sound" in restored.output
    assert s3_objects(other_s3_app.config["ARCHIVE_URL"], s3_endpoint) == s3_objects(s3_archive_url, s3_endpoint)
    download = Api(other_s3_app.test_client(), finance).get("/invoices/INV-2026-00002/pdf")
    assert download.status_code == 200
    assert download.data == s3_objects(s3_archive_url, s3_endpoint)["2026/INV-2026-00002.pdf"]


def test_restoring_twice_with_force_puts_back_a_changed_pdf_and_removes_a_stray_one(
        s3_app, api, make_client, rate_card, s3_archive_url, s3_endpoint, s3_environment, tmp_path):
    bill_a_month(s3_app, api, make_client)
    before = s3_objects(s3_archive_url, s3_endpoint)
    assert ledger(s3_app, s3_environment, "backup", str(tmp_path / "ledger.tar.gz")).exit_code == 0
    overwrite_s3_object(s3_archive_url, s3_endpoint, "2026/INV-2026-00001.pdf", b"%PDF-1.7 forged")
    storage.S3Store(s3_archive_url, s3_endpoint).put_once("2026/INV-2026-00099.pdf", b"%PDF-1.7 stray")

    restored = ledger(s3_app, s3_environment, "restore", "--force", str(tmp_path / "ledger.tar.gz"))

    assert restored.exit_code == 0, restored.output
    assert s3_objects(s3_archive_url, s3_endpoint) == before


def test_ledger_backup_to_the_store_writes_a_dated_backup_that_passes_its_test(
        s3_app, api, make_client, rate_card, s3_endpoint, s3_environment):
    bill_a_month(s3_app, api, make_client)
    backups = f"s3://{fresh_bucket(s3_endpoint)}/nightly"

    made = ledger(s3_app, s3_environment, "backup", "--to", backups)

    assert made.exit_code == 0, made.output
    [name] = s3_objects(backups, s3_endpoint)
    assert name.startswith("ledger-") and name.endswith("Z.tar.gz")
    tested = ledger(s3_app, s3_environment, "backup", "test", f"{backups}/{name}")
    assert tested.exit_code == 0, tested.output
    assert "passed its test" in tested.output


# --- readiness ------------------------------------------------------------------------------------

def test_readyz_answers_503_while_the_store_is_unreachable_and_recovers(s3_app, s3_endpoint):
    client = s3_app.test_client()
    assert client.get("/readyz").status_code == 200

    s3_app.config["S3_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: as if the store were down
    down = client.get("/readyz")
    assert down.status_code == 503
    failed = down.get_json()["failed"]
    assert list(failed) == ["archive"]
    assert f"{s3_app.config['ARCHIVE_URL']} is not writable at http://127.0.0.1:9" in failed["archive"]

    s3_app.config["S3_ENDPOINT"] = s3_endpoint
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_503_naming_a_bucket_that_does_not_exist(app, s3_endpoint):
    app.config.update(ARCHIVE_URL="s3://no-such-bucket-for-ledger/invoices", S3_ENDPOINT=s3_endpoint)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert "s3://no-such-bucket-for-ledger/invoices is not writable" in response.get_json()["failed"]["archive"]


# --- a PDF already under its key ------------------------------------------------------------------

def issue_unrendered(app, api, make_client) -> int:
    """February issued for ACME, its PDF not rendered yet; returns the invoice's id."""
    make_client("ACME")
    post_created(api, "/clients/ACME/bundles", {"quantity": 10, "purchased_on": "2026-02-02"})
    issued, _ = batch.issue(app, BILLED_PERIOD, BILLED_ON)
    assert issued == ["INV-2026-00001"]
    with app.app_context():
        return db.session.scalar(sa.select(Invoice.id).where(Invoice.number == "INV-2026-00001"))


def test_a_pdf_stored_by_a_run_stopped_before_recording_it_is_recorded_as_it_stands(
        s3_app, api, make_client, s3_archive_url, s3_endpoint):
    invoice_id = issue_unrendered(s3_app, api, make_client)
    with s3_app.app_context():  # what a host killed between storing and recording leaves behind
        invoice = db.session.get(Invoice, invoice_id)
        archive.render_to_archive(invoice, storage.for_config(s3_app.config), s3_app.config)
        db.session.remove()

    rendered, _ = batch.render_missing(s3_app, workers=1)

    assert rendered == 1
    stored = s3_objects(s3_archive_url, s3_endpoint)
    assert list(stored) == ["2026/INV-2026-00001.pdf"]
    assert recorded_documents(s3_app) == {"2026/INV-2026-00001.pdf": hashlib.sha256(stored[
        "2026/INV-2026-00001.pdf"]).hexdigest()}


@pytest.mark.unsound_books
def test_a_different_pdf_left_under_the_key_is_never_replaced_and_the_run_names_it(
        s3_app, api, make_client, s3_archive_url, s3_endpoint):
    invoice_id = issue_unrendered(s3_app, api, make_client)
    left_over = b"%PDF-1.7 INV-2026-00001 of a timeline a recovery rolled back"
    storage.S3Store(s3_archive_url, s3_endpoint).put_once("2026/INV-2026-00001.pdf", left_over)

    with pytest.raises(archive.ArchiveDamaged, match=(
            f"{s3_archive_url}/2026/INV-2026-00001.pdf holds a different PDF that no invoice records")):
        batch.render_missing(s3_app, workers=1)

    assert s3_objects(s3_archive_url, s3_endpoint) == {"2026/INV-2026-00001.pdf": left_over}
    with s3_app.app_context():
        assert archive.unrendered(db.session) == [invoice_id]
