"""The monthly batch as an operator runs it on SQLite: ``ledger invoices run`` in processes of its own.

(On PostgreSQL the command queues the month for ``ledger worker``s instead: the same promises for
killed workers and concurrent runs are tested in ``test_batch_jobs.py``.)

The batch issues every invoice in one transaction, then renders the PDFs one by one,
recording each as soon as it is on disk. So a batch killed half-way (SIGKILL: no clean-up
of any kind) and run again must end with every invoice issued once, under gapless numbers,
with exactly one archived PDF whose SHA-256 the database keeps; and two batches started
at once must end the same way.

Temp files: the archive writes ``.INV-….pdf.XXXX`` beside the PDF and renames it into
place. A SIGKILL between the two leaves that temp file behind. It is never recorded nor
served, so it is harmless; what must hold is that a run that completes leaves none of its
own, and that no recorded path is a temp file.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ledger import create_app
from ledger.extensions import db
from ledger.services.bundles import buy_bundle
from ledger.services.clients import create_client
from ledger.services.ratecards import create_rate_card
from tests.helpers import ledger_executable, ready_to_invoice, server_environment

MARCH = "2026-03"
#: how long one batch may take, in seconds (30 PDFs at well under a second each)
BATCH_TIMEOUT = 300


def seed(database_url: str, count: int) -> list[str]:
    """``count`` clients, each with a bundle bought in March; returns their codes."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "e2e-set-up", "TESTING": True})
    codes = [f"B{n:03d}" for n in range(1, count + 1)]
    with app.app_context():
        create_rate_card(db.session, "USD", date(2020, 1, 1))
        ready_to_invoice(app)
        for n, code in enumerate(codes, start=1):
            client = create_client(db.session, code=code, name=f"Client {n}", currency="USD", locale="en_US",
                                   tax_rate=Decimal(10), term_start=date(2026, 1, 1))
            buy_bundle(db.session, client, n, date(2026, 3, 2))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return codes


def batch_command() -> list[str]:
    return [ledger_executable(), "invoices", "run", "--period", MARCH, "--workers", "1",
            "--today", "2026-04-01"]


def start_batch(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as sink:
        return subprocess.Popen(batch_command(), env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def pdfs(archive: Path) -> set[str]:
    """Paths of the finished PDFs under the archive, e.g. ``2026/INV-2026-00001.pdf``."""
    return {p.relative_to(archive).as_posix() for p in archive.glob("*/INV-*.pdf")}


def temp_files(archive: Path) -> set[str]:
    return {p.relative_to(archive).as_posix() for p in archive.glob("*/.*")}


def stored(database_url: str) -> tuple[list[tuple], list[tuple]]:
    """(client code, invoice number) of every invoice, and (number, path, sha256, size) of every PDF."""
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            invoices = connection.execute(sa.text(
                "SELECT c.code, i.number FROM invoices i JOIN clients c ON c.id = i.client_id ORDER BY i.number"
            )).all()
            documents = connection.execute(sa.text(
                "SELECT i.number, d.path, d.sha256, d.size FROM invoice_documents d "
                "JOIN invoices i ON i.id = d.invoice_id ORDER BY i.number"
            )).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in invoices], [tuple(row) for row in documents]


def assert_every_invoice_has_one_verified_pdf(database_url: str, archive: Path, codes: list[str]) -> None:
    """Each client once, numbers 1..N without a gap, one document each whose file matches its hash."""
    invoices, documents = stored(database_url)
    numbers = [f"INV-2026-{n:05d}" for n in range(1, len(codes) + 1)]
    assert sorted(code for code, _ in invoices) == codes
    assert [number for _, number in invoices] == numbers
    assert [number for number, *_ in documents] == numbers
    for number, path, sha256, size in documents:
        data = (archive / path).read_bytes()
        assert path == f"2026/{number}.pdf"
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (sha256, size), number
        assert data.startswith(b"%PDF-")
    assert pdfs(archive) == {path for _, path, *_ in documents}


def wait_for_some_pdfs(process: subprocess.Popen, archive: Path, at_least: int, log: Path) -> None:
    deadline = time.monotonic() + BATCH_TIMEOUT
    while len(pdfs(archive)) < at_least:
        if process.poll() is not None:
            pytest.fail(f"the batch ended ({process.returncode}) before {at_least} PDFs existed:\n"
                        f"{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {at_least} PDFs after {BATCH_TIMEOUT} s")
        time.sleep(0.02)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL a batch still running, and anything it started: no handler, no clean-up runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is the batch's
        process.wait(timeout=30)


def test_a_batch_killed_half_way_and_run_again_leaves_one_verified_pdf_per_invoice(database_url, tmp_path):
    codes = seed(database_url, 30)
    env = server_environment(database_url, tmp_path)
    archive = Path(env["LEDGER_INVOICE_DIR"])
    log = tmp_path / "killed.log"

    killed = start_batch(env, log)
    try:
        wait_for_some_pdfs(killed, archive, at_least=5, log=log)
    finally:
        kill(killed)
    assert killed.returncode == -signal.SIGKILL
    left_by_the_kill = temp_files(archive)
    assert 5 <= len(pdfs(archive)) < len(codes), "killed once some, but not all, PDFs existed"
    invoices, _ = stored(database_url)
    assert len(invoices) == len(codes)  # issuing was done, and committed, before any PDF

    again = subprocess.run(batch_command(), env=env, capture_output=True, text=True, timeout=BATCH_TIMEOUT,
                           check=False)

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{MARCH}: 0 issued" in again.stdout
    assert_every_invoice_has_one_verified_pdf(database_url, archive, codes)
    assert temp_files(archive) <= left_by_the_kill


def test_two_batches_started_at_once_issue_and_archive_each_invoice_once(database_url, tmp_path):
    codes = seed(database_url, 10)
    env = server_environment(database_url, tmp_path)
    archive = Path(env["LEDGER_INVOICE_DIR"])
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    batches = [start_batch(env, log) for log in logs]
    try:
        for process in batches:
            process.wait(timeout=BATCH_TIMEOUT)
    finally:
        for process in batches:
            kill(process)

    assert_every_invoice_has_one_verified_pdf(database_url, archive, codes)
    assert temp_files(archive) == set()
    outputs = [log.read_text(errors="replace") for log in logs]
    # each batch went through every client; between them they issued each invoice once
    summary = re.compile(rf"^{MARCH}: (\d+) issued, (\d+) with nothing to bill, 0 failed$", re.MULTILINE)
    counts = [tuple(map(int, found.groups())) for output in outputs if (found := summary.search(output))]
    assert len(counts) == 2 and all(issued + skipped == len(codes) for issued, skipped in counts), outputs
    assert sum(issued for issued, _ in counts) == len(codes)
    assert [p.returncode for p in batches] == [0, 0], "\n----\n".join(outputs)
