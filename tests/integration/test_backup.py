"""`ledger backup FILE` / `ledger restore FILE`: the database and the invoice archive, and back.

A backup restored onto a fresh database gives the same balances, entries and PDFs
byte for byte; a damaged backup is refused before anything is touched; a database
that holds data is replaced only with --force.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ledger import batch, create_app
from ledger.cli import main as ledger_command
from ledger.extensions import db
from ledger.migrate import is_current
from ledger.models import Bundle, Client, Entry, Invoice, Lot
from ledger.money import Money
from ledger.retention import backup_name, taken_at
from ledger.services.backup import BackupError, RestoreRefused, create_backup, restore_backup
from ledger.services.balances import balance
from ledger.services.bundles import buy_bundle
from ledger.services.clients import create_client
from ledger.services.ratecards import seed_card
from tests.helpers import (
    Api,
    bill_a_month,
    both_engines,
    fresh_postgres_database,
    make_api_token,
    seed_vendor,
)

PERIOD = "2026-02"
ISSUED_ON = date(2026, 3, 1)
AS_OF = date(2026, 3, 1)
TECHNICIAN = "Tess Tech"


# --- fixtures and helpers -------------------------------------------------------------------------

@pytest.fixture
def other_database(request, engine_name, tmp_path, sqlite_template):
    """A second fresh, migrated database on the same engine: where a backup is restored."""
    if engine_name == "sqlite":
        path = tmp_path / "other.sqlite3"
        path.write_bytes(sqlite_template.read_bytes())
        yield f"sqlite:///{path}"
        return
    url, drop = fresh_postgres_database(request.getfixturevalue("postgres_template"))
    yield url
    drop()


@pytest.fixture
def other_app(app, other_database, tmp_path):
    """The app on the second database, with its own (empty) invoice archive."""
    other = create_app({"SQLALCHEMY_DATABASE_URI": other_database, "SECRET_KEY": "test-secret",
                        "TESTING": True, "INVOICE_DIR": str(tmp_path / "other-invoices")})
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def backup(app, file: Path):
    """``ledger backup FILE`` for ``app``, through the service."""
    with app.app_context():
        return create_backup(db.engine, Path(app.config["INVOICE_DIR"]), file)


def restore(app, file: Path, force: bool = False):
    """``ledger restore FILE`` onto ``app``, through the service."""
    with app.app_context():
        db.session.remove()
        return restore_backup(db.engine, Path(app.config["INVOICE_DIR"]), file, force=force)


def post(api, path: str, body: dict) -> dict:
    response = api.post(path, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def what_users_see(app, token: str) -> dict:
    """Each client's balance, the number of entries and every invoice's PDF as downloaded."""
    with app.app_context():
        clients = db.session.scalars(sa.select(Client).order_by(Client.code)).all()
        balances = {client.code: balance(db.session, client, AS_OF) for client in clients}
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(Entry))
        numbers = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.number)).all()
    client = Api(app.test_client(), token)
    pdfs = {}
    for number in numbers:
        response = client.get(f"/invoices/{number}/pdf")
        assert response.status_code == 200, response.get_data(as_text=True)
        pdfs[number] = response.data
    return {"balances": balances, "entries": entries, "pdfs": pdfs}


def archived_files(app) -> dict[str, bytes]:
    """Every file in the app's invoice archive, by its path under the archive."""
    root = Path(app.config["INVOICE_DIR"])
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()} if root.exists() else {}


def client_codes(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(sa.select(Client.code).order_by(Client.code)).all()


def members(file: Path) -> dict[str, bytes]:
    """Every file inside a backup, by name."""
    with tarfile.open(file) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def rewrite(file: Path, name: str, change) -> None:
    """Rewrite the backup with ``change(bytes) -> bytes`` applied to member ``name``; the rest untouched."""
    contents = members(file)
    contents[name] = change(contents[name])
    with tarfile.open(file, "w:gz") as tar:
        for member, data in contents.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def flip_a_byte(data: bytes) -> bytes:
    """The same bytes with one bit of the middle byte flipped."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def add_client(app, code: str) -> None:
    """Create a USD client on ``app``'s database, committed."""
    with app.app_context():
        seed_card(db.session, "USD")  # a client needs a rate card in its currency
        create_client(db.session, code=code, name=f"{code} Ltd", currency="USD", locale="en_US",
                      tax_rate=Decimal(10), term_start=date(2026, 1, 1))
        db.session.commit()


def buy(app, code: str, quantity: int) -> None:
    """Buy a bundle for an existing client, committed."""
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == code))
        buy_bundle(db.session, client, quantity, date(2026, 2, 1), unit_price=Money(Decimal(90), "USD"))
        db.session.commit()


# --- the round trip -------------------------------------------------------------------------------

@both_engines
def test_a_backup_restored_onto_a_fresh_database_gives_the_same_balances_entries_and_pdfs(
        app, api, make_client, make_token, rate_card, other_app, tmp_path):
    bill_a_month(app, api, make_client)
    finance = make_token("finance")
    before = what_users_see(app, finance)
    assert len(before["pdfs"]) == 2 and before["entries"] > 0

    manifest = backup(app, tmp_path / "ledger.tar.gz")
    restore(other_app, tmp_path / "ledger.tar.gz")

    assert len(manifest.files) == 2
    after = what_users_see(other_app, finance)  # the token is restored with its user
    assert after["balances"] == before["balances"]
    assert after["entries"] == before["entries"]
    assert after["pdfs"] == before["pdfs"]
    assert archived_files(other_app) == archived_files(app)
    with other_app.app_context():
        assert is_current()


@both_engines
def test_a_backup_lists_the_sha256_of_the_database_dump_and_of_every_archived_file(
        app, make_client, tmp_path, engine_name):
    make_client("ACME")
    archive = {"2026/INV-2026-00001.pdf": b"%PDF-1.7 one", "2026/INV-2026-00002.pdf": b"%PDF-1.7 two"}
    for relative, data in archive.items():
        (Path(app.config["INVOICE_DIR"]) / relative).parent.mkdir(parents=True, exist_ok=True)
        (Path(app.config["INVOICE_DIR"]) / relative).write_bytes(data)
    backup(app, tmp_path / "ledger.tar.gz")

    contents = members(tmp_path / "ledger.tar.gz")
    manifest = json.loads(contents.pop("manifest.json"))
    listed = {item["path"]: item["sha256"] for item in [manifest["database"], *manifest["files"]]}
    assert listed == {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    assert {name: contents[name] for name in listed if name.startswith("invoices/")} == {
        f"invoices/{relative}": data for relative, data in archive.items()}
    assert manifest["engine"] == engine_name


@both_engines
def test_a_backup_taken_while_the_app_is_writing_is_one_consistent_snapshot(
        app, make_client, other_app, tmp_path):
    make_client("BUSY")
    stop, failures = threading.Event(), []

    def keep_buying():
        try:
            while not stop.is_set():
                buy(app, "BUSY", 1)
        except Exception as error:  # noqa: BLE001 - asserted below: a writer that failed proves nothing
            failures.append(error)

    def bundles_sold() -> int:
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(Bundle))

    writer = threading.Thread(target=keep_buying)
    writer.start()
    try:
        while bundles_sold() < 5 and writer.is_alive():
            threading.Event().wait(0.01)
        low = bundles_sold()
        backup(app, tmp_path / "busy.tar.gz")
        high = bundles_sold()
    finally:
        stop.set()
        writer.join()
    assert failures == []

    restore(other_app, tmp_path / "busy.tar.gz")
    with other_app.app_context():
        def count(model) -> int:
            return db.session.scalar(sa.select(sa.func.count()).select_from(model))

        purchases = db.session.scalar(sa.select(sa.func.count()).where(Entry.kind == "purchase"))
        incidents = db.session.scalar(sa.select(sa.func.sum(Entry.quantity)))
        remaining = db.session.scalar(sa.select(sa.func.sum(Lot.remaining)))
        assert low <= count(Bundle) <= high
        assert count(Bundle) == count(Lot) == purchases == incidents == remaining


# --- damaged backups ------------------------------------------------------------------------------

@pytest.mark.parametrize("damaged", ["database.sqlite3", "invoices/2026/INV-2026-00001.pdf"])
def test_a_backup_with_a_flipped_byte_is_refused_naming_the_file_and_nothing_is_restored(
        app, make_client, tmp_path, damaged):
    make_client("ACME")
    buy(app, "ACME", 10)
    pdf = Path(app.config["INVOICE_DIR"]) / "2026" / "INV-2026-00001.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.7 the invoice as issued")
    file = tmp_path / "ledger.tar.gz"
    backup(app, file)
    buy(app, "ACME", 7)  # what a restore would take away
    pdf.write_bytes(b"%PDF-1.7 what a restore would take away")
    rewrite(file, damaged, flip_a_byte)

    with pytest.raises(BackupError) as refused:
        restore(app, file, force=True)

    assert f"{damaged} in {file} does not match its SHA-256" in str(refused.value)
    assert "nothing was restored" in str(refused.value)
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ACME"))
        assert balance(db.session, client, AS_OF).available == 17
    assert archived_files(app) == {"2026/INV-2026-00001.pdf": b"%PDF-1.7 what a restore would take away"}


@pytest.mark.parametrize("damage, message", [
    ("a file the manifest does not list", "holds invoices/2026/extra.pdf, which its manifest does not list"),
    ("a listed file left out", "invoices/2026/INV-2026-00001.pdf is missing from"),
    ("a path outside the backup", "a path outside the backup"),
    ("no manifest", "it has no manifest.json"),
])
def test_a_tampered_backup_is_refused_and_nothing_is_restored(app, make_client, other_app, tmp_path,
                                                              damage, message):
    make_client("ACME")
    invoices = Path(app.config["INVOICE_DIR"]) / "2026"
    invoices.mkdir(parents=True)
    (invoices / "INV-2026-00001.pdf").write_bytes(b"%PDF-1.7 stand-in")
    backup(app, tmp_path / "ledger.tar.gz")
    contents = members(tmp_path / "ledger.tar.gz")
    if damage == "a file the manifest does not list":
        contents["invoices/2026/extra.pdf"] = b"%PDF-1.7 slipped in"
    elif damage == "a listed file left out":
        del contents["invoices/2026/INV-2026-00001.pdf"]
    elif damage == "a path outside the backup":
        contents["../escaped.pdf"] = b"%PDF-1.7 escaping"
    else:
        del contents["manifest.json"]
    with tarfile.open(tmp_path / "ledger.tar.gz", "w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    with pytest.raises(BackupError, match=message):
        restore(other_app, tmp_path / "ledger.tar.gz")

    assert client_codes(other_app) == []
    assert archived_files(other_app) == {}
    assert not (tmp_path / "escaped.pdf").exists()


def test_a_backup_file_damaged_on_disk_is_refused_naming_it(app, make_client, other_app, tmp_path):
    make_client("ACME")
    file = tmp_path / "ledger.tar.gz"
    backup(app, file)
    file.write_bytes(flip_a_byte(file.read_bytes()))

    with pytest.raises(BackupError, match=str(file)):
        restore(other_app, file)
    assert client_codes(other_app) == []


# --- refusing to overwrite ------------------------------------------------------------------------

@both_engines
def test_restore_onto_a_database_with_clients_is_refused_without_force(app, make_client, other_app, tmp_path):
    make_client("ACME")
    backup(app, tmp_path / "ledger.tar.gz")
    add_client(other_app, "OTHER")

    with pytest.raises(RestoreRefused, match="not empty .*use --force"):
        restore(other_app, tmp_path / "ledger.tar.gz")
    assert client_codes(other_app) == ["OTHER"]

    restore(other_app, tmp_path / "ledger.tar.gz", force=True)
    assert client_codes(other_app) == ["ACME"]


def test_restore_onto_a_non_empty_invoice_archive_is_refused_without_force(app, make_client, other_app,
                                                                             tmp_path):
    make_client("ACME")
    backup(app, tmp_path / "ledger.tar.gz")
    stray = Path(other_app.config["INVOICE_DIR"]) / "2026" / "INV-2026-00009.pdf"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"%PDF-1.7 someone's invoice")

    with pytest.raises(RestoreRefused, match="invoice archive .* is not empty"):
        restore(other_app, tmp_path / "ledger.tar.gz")
    assert client_codes(other_app) == [] and stray.exists()

    restore(other_app, tmp_path / "ledger.tar.gz", force=True)
    assert client_codes(other_app) == ["ACME"] and archived_files(other_app) == {}


@both_engines
def test_restore_with_force_replaces_append_only_tables_and_keeps_them_append_only(
        app, make_client, other_app, other_database, tmp_path):
    make_client("ACME")
    buy(app, "ACME", 10)
    backup(app, tmp_path / "ledger.tar.gz")
    add_client(other_app, "OTHER")
    buy(other_app, "OTHER", 3)
    seed_vendor(other_app)  # issuing needs a complete vendor profile
    issued, _ = batch.issue(other_app, PERIOD, ISSUED_ON)  # invoices, too, refuse DELETE and TRUNCATE
    assert issued

    restore(other_app, tmp_path / "ledger.tar.gz", force=True)

    with other_app.app_context():
        assert db.session.scalars(sa.select(Client.code)).all() == ["ACME"]
        assert db.session.scalars(sa.select(Entry.quantity)).all() == [10]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    engine = sa.create_engine(other_database, poolclass=sa.pool.NullPool)
    try:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM entries"))
    finally:
        engine.dispose()


@both_engines
def test_a_backup_restores_into_a_database_with_no_tables_at_all(app, make_client, other_app, tmp_path):
    make_client("ACME")
    buy(app, "ACME", 10)
    backup(app, tmp_path / "ledger.tar.gz")
    with other_app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            else:
                for table in sa.inspect(connection).get_table_names():
                    connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
                    connection.exec_driver_sql(f'DROP TABLE "{table}"')
            assert sa.inspect(connection).get_table_names() == []
        db.engine.dispose()

    restore(other_app, tmp_path / "ledger.tar.gz")

    with other_app.app_context():
        assert is_current()
        client = db.session.scalar(sa.select(Client).where(Client.code == "ACME"))
        assert balance(db.session, client, AS_OF).available == 10


@pytest.mark.postgres
def test_a_sqlite_backup_is_refused_on_postgresql(app, make_client, tmp_path, postgres_template):
    make_client("ACME")
    backup(app, tmp_path / "ledger.tar.gz")
    url, drop = fresh_postgres_database(postgres_template)
    target = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret", "TESTING": True,
                         "INVOICE_DIR": str(tmp_path / "pg-invoices")})
    try:
        with pytest.raises(BackupError, match="backup of a sqlite database; it cannot be restored onto"):
            restore(target, tmp_path / "ledger.tar.gz")
        assert client_codes(target) == []
    finally:
        with target.app_context():
            db.engine.dispose()
        drop()


def test_a_backup_never_overwrites_an_existing_file(app, make_client, tmp_path):
    make_client("ACME")
    (tmp_path / "ledger.tar.gz").write_bytes(b"last night's backup")
    with pytest.raises(BackupError, match="exists already"):
        backup(app, tmp_path / "ledger.tar.gz")
    assert (tmp_path / "ledger.tar.gz").read_bytes() == b"last night's backup"


# --- the command line -----------------------------------------------------------------------------

def ledger(app, *args: str):
    """Run ``ledger ARGS`` configured for ``app``'s database and invoice archive."""
    env = {"LEDGER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "LEDGER_INVOICE_DIR": app.config["INVOICE_DIR"], "LEDGER_SECRET_KEY": "test-secret"}
    return CliRunner().invoke(ledger_command, list(args), env=env, catch_exceptions=False)


@both_engines
def test_ledger_backup_and_restore_from_the_command_line(app, make_client, other_app, tmp_path):
    make_client("ACME")
    buy(app, "ACME", 10)
    file = str(tmp_path / "ledger.tar.gz")

    made = ledger(app, "backup", file)
    assert made.exit_code == 0, made.output
    restored = ledger(other_app, "restore", file)
    assert restored.exit_code == 0, restored.output
    assert client_codes(other_app) == ["ACME"]

    again = ledger(other_app, "restore", file)
    assert again.exit_code == 1 and "use --force" in again.output
    forced = ledger(other_app, "restore", file, "--force")
    assert forced.exit_code == 0, forced.output
    with other_app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.code == "ACME"))
        assert balance(db.session, client, AS_OF).available == 10


def test_ledger_restore_of_a_damaged_backup_fails_naming_the_file(app, make_client, other_app, tmp_path):
    make_client("ACME")
    file = tmp_path / "ledger.tar.gz"
    made = ledger(app, "backup", str(file))
    assert made.exit_code == 0, made.output
    rewrite(file, "database.sqlite3", flip_a_byte)

    refused = ledger(other_app, "restore", str(file))

    assert refused.exit_code == 1
    assert "database.sqlite3" in refused.output and "does not match its SHA-256" in refused.output
    assert client_codes(other_app) == []


# --- the archive is checked both ways -------------------------------------------------------------

@pytest.mark.unsound_books
def test_a_backup_of_an_archive_with_a_damaged_pdf_is_refused_naming_the_invoice(
        app, api, make_client, rate_card, tmp_path):
    bill_a_month(app, api, make_client)
    pdf = next(Path(app.config["INVOICE_DIR"]).rglob("INV-2026-00002.pdf"))
    pdf.write_bytes(flip_a_byte(pdf.read_bytes()))

    with pytest.raises(BackupError, match=r"INV-2026-00002 \(.*\) does not match its recorded SHA-256"):
        backup(app, tmp_path / "ledger.tar.gz")
    assert not (tmp_path / "ledger.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ledger.tar.gz")] == []


@pytest.mark.unsound_books
def test_ledger_restore_verifies_what_it_restored_and_names_the_mismatch(
        app, api, make_client, rate_card, other_app, tmp_path):
    bill_a_month(app, api, make_client)
    with app.app_context(), db.engine.begin() as connection:  # a drifted cache the backup carries along
        lot = connection.execute(sa.text("SELECT min(id) FROM lots")).scalar()
        connection.execute(sa.text("UPDATE lots SET remaining = remaining - 1 WHERE id = :id"), {"id": lot})
    assert ledger(app, "backup", str(tmp_path / "ledger.tar.gz")).exit_code == 0

    restored = ledger(other_app, "restore", str(tmp_path / "ledger.tar.gz"))

    assert restored.exit_code == 1
    assert "restored the database and 2 archived file(s)" in restored.output
    assert f"lots: lot {lot}: remaining is" in restored.output


def test_ledger_restore_says_the_restored_books_are_sound(app, api, make_client, rate_card, other_app,
                                                          tmp_path):
    bill_a_month(app, api, make_client)
    assert ledger(app, "backup", str(tmp_path / "ledger.tar.gz")).exit_code == 0

    restored = ledger(other_app, "restore", str(tmp_path / "ledger.tar.gz"))

    assert restored.exit_code == 0, restored.output
    assert "the books are sound" in restored.output


# --- dated backups with retention, and testing a backup ------------------------------------------

def dated(stamp: str) -> str:
    """``"2026-11-30 02:00"`` → the dated name of a backup taken then."""
    return backup_name(datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=UTC))


def test_ledger_backup_to_a_folder_writes_a_dated_backup_and_prunes_what_the_policy_lets_go(
        app, make_client, tmp_path):
    make_client("ACME")
    folder = tmp_path / "nightly"
    folder.mkdir()
    older = [dated(stamp) for stamp in ("2025-10-31 02:00", "2025-11-29 02:00", "2025-11-30 02:00",
                                        "2025-12-01 02:00", "2025-12-02 02:00")]
    for name in [*older, "notes.txt"]:
        (folder / name).write_bytes(b"an older backup")

    made = ledger(app, "backup", "--to", str(folder), "--keep-daily", "2", "--keep-weekly", "1",
                  "--keep-monthly", "2")

    assert made.exit_code == 0, made.output
    [new] = [path.name for path in folder.iterdir() if path.name not in (*older, "notes.txt")]
    assert taken_at(new) is not None and f"backed up the sqlite database and 0 archived file(s) to {folder / new}" \
        in made.output
    # 2 days, 1 week, 2 months: the new one (today, this week, this month) and 2025-12-02 (the day
    # before it that has a backup, and the newest of December 2025); a name that is not dated stays
    assert sorted(path.name for path in folder.iterdir()) == sorted([new, dated("2025-12-02 02:00"), "notes.txt"])
    for name in older[:4]:
        assert f"pruned {folder / name} (outside the retention policy)" in made.output
    assert members(folder / new)["manifest.json"]


@pytest.mark.parametrize("args, message", [
    ((), "give either FILE or --to DIR_OR_S3_URL"),
    (("x.tar.gz", "--to", "backups"), "give either FILE or --to DIR_OR_S3_URL"),
    (("--to", "ftp://example/backups"), "the archive is a folder or an s3://BUCKET/PREFIX URL"),
    (("--to", "backups", "--keep-daily", "-1"), "-1 is not in the range x>=0"),
])
def test_ledger_backup_refuses_unclear_arguments_naming_them(app, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    refused = ledger(app, "backup", *args)
    assert refused.exit_code == 2 and message in refused.output
    assert not (tmp_path / "backups").exists() and not (tmp_path / "x.tar.gz").exists()


@both_engines
def test_ledger_backup_test_passes_a_good_backup_restored_into_a_scratch_database(
        app, api, make_client, rate_card, tmp_path):
    bill_a_month(app, api, make_client)
    file = tmp_path / "ledger.tar.gz"
    assert ledger(app, "backup", str(file)).exit_code == 0
    buy(app, "ACME", 3)  # the live books move on; the test must not touch them
    live = what_users_see(app, make_api_token(app, "finance"))

    tested = ledger(app, "backup", "test", str(file))

    assert tested.exit_code == 0, tested.output
    assert "2 archived file(s)) into a scratch database" in tested.output
    assert "the books are sound" in tested.output and f"the backup {file} passed its test" in tested.output
    assert what_users_see(app, make_api_token(app, "finance")) == live


def truncate(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize("damage, message", [
    (lambda file: file.write_bytes(truncate(file.read_bytes())), "is damaged or not a backup"),
    # a flipped bit in the compressed stream breaks it, or decompresses to bytes the manifest refutes
    (lambda file: file.write_bytes(flip_a_byte(file.read_bytes())), "damaged"),
    (lambda file: rewrite(file, "invoices/2026/INV-2026-00002.pdf", flip_a_byte),
     "invoices/2026/INV-2026-00002.pdf in .* does not match its SHA-256 in the manifest"),
], ids=["truncated", "a flipped byte", "a PDF changed inside"])
def test_ledger_backup_test_fails_a_damaged_backup_naming_what_is_wrong(
        app, api, make_client, rate_card, tmp_path, damage, message):
    bill_a_month(app, api, make_client)
    file = tmp_path / "ledger.tar.gz"
    assert ledger(app, "backup", str(file)).exit_code == 0
    damage(file)

    tested = ledger(app, "backup", "test", str(file))

    assert tested.exit_code == 1
    assert re.search(f"the backup {re.escape(str(file))} failed its test: .*{message}", tested.output), tested.output


def test_ledger_backup_test_fails_a_backup_whose_pdf_and_manifest_were_both_changed(
        app, api, make_client, rate_card, tmp_path):
    bill_a_month(app, api, make_client)
    file = tmp_path / "ledger.tar.gz"
    assert ledger(app, "backup", str(file)).exit_code == 0
    forged = b"%PDF-1.7 a forged invoice"
    rewrite(file, "invoices/2026/INV-2026-00002.pdf", lambda _: forged)

    def matching_manifest(data: bytes) -> bytes:  # a careful forger updates the manifest too
        manifest = json.loads(data)
        for item in manifest["files"]:
            if item["path"] == "invoices/2026/INV-2026-00002.pdf":
                item.update(sha256=hashlib.sha256(forged).hexdigest(), size=len(forged))
        return json.dumps(manifest).encode()

    rewrite(file, "manifest.json", matching_manifest)

    tested = ledger(app, "backup", "test", str(file))

    assert tested.exit_code == 1
    assert "documents: INV-2026-00002:" in tested.output and "not the recorded" in tested.output
    assert f"the backup {file} failed its test: `ledger verify` found 1 problem(s)" in tested.output
