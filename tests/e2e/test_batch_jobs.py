"""The month's batch as shared jobs in PostgreSQL, and `ledger worker`, as an operator runs them.

``ledger invoices run`` queues one job per client; ``ledger worker`` processes (any number, on any
host) take them. Whatever happens to a worker, the month ends with every client invoiced once,
under gapless numbers, each PDF archived once and matching its SHA-256, and ``ledger verify``
clean. On SQLite there is no queue: the worker sends the outbox by polling it.
"""

from __future__ import annotations

import email
import re
import subprocess
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import (
    QUEUED_PERIOD,
    QUEUED_RUN_DAY,
    assert_issued_once_gapless_and_archived,
    clients_to_invoice,
    kill_now,
    ledger_command,
    ledger_verify,
    month_on_record,
    server_environment,
    start_ledger,
    start_worker,
    stop_gracefully,
    wait_for,
)

postgres_only = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
#: how long a month of a dozen clients may take two busy CPUs, in seconds
MONTH_TIMEOUT = 300
#: the subject of an invoice's own e-mail
INVOICE_MAIL = re.compile(r"^Invoice INV-\d{4}-\d{5} from ")
RUN = ["invoices", "run", "--period", QUEUED_PERIOD, "--today", QUEUED_RUN_DAY]


def environment(database_url: str, folder: Path) -> dict[str, str]:
    return server_environment(database_url, folder, {"LEDGER_MAIL_URL": f"file://{folder / 'outbox'}"})


def run_month(env: dict[str, str], *extra: str, timeout: float = MONTH_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(ledger_command(*RUN, *extra), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def issue_jobs(database_url: str) -> dict[str, int]:
    """How many per-client jobs the queue holds, by status."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT status::text, count(*) FROM procrastinate.procrastinate_jobs "
                "WHERE task_name = 'ledger:issue_client' GROUP BY status")).all()
    finally:
        engine.dispose()
    return dict(rows)


def archived_count(database_url: str) -> int:
    return len(month_on_record(database_url)[1])


@postgres_only
def test_two_workers_issue_the_queued_month_once_with_gapless_numbers_and_send_its_mail(database_url, tmp_path):
    codes = clients_to_invoice(database_url, 12, billing_emails=True)
    env = environment(database_url, tmp_path)
    archive = Path(env["LEDGER_INVOICE_DIR"])
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(env, log) for log in logs]
    try:
        result = run_month(env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{QUEUED_PERIOD}: 12 client job(s) queued" in result.stdout
        assert f"{QUEUED_PERIOD}: 12 issued, 0 with nothing to bill, 0 failed" in result.stdout
        outbox = tmp_path / "outbox"
        wait_for(lambda: len(invoice_mails(outbox)) == 12, 120, "12 invoice e-mails in the outbox", *workers)
    finally:
        codes_of_stops = [stop_gracefully(worker) for worker in workers]

    assert codes_of_stops == [0, 0]
    assert_issued_once_gapless_and_archived(database_url, archive, codes)
    for log in logs:  # both workers took part
        assert "Starting job ledger:issue_client" in log.read_text(), log.read_text()[-3000:]
    invoices, documents = month_on_record(database_url)
    pdf_of = {number: (archive / path).read_bytes() for number, path, *_ in documents}
    for message in (tmp_path / "outbox").glob("*.eml"):
        parsed = email.message_from_bytes(message.read_bytes(), policy=policy.default)
        if not INVOICE_MAIL.match(parsed["Subject"]):
            continue
        [pdf] = [part for part in parsed.iter_attachments() if part.get_content_type() == "application/pdf"]
        assert pdf.get_content() == pdf_of[pdf.get_filename().removesuffix(".pdf")]
    assert issue_jobs(database_url) == {"succeeded": 12}
    verified = ledger_verify(env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@postgres_only
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing_once_another_takes_over(
        database_url, tmp_path):
    codes = clients_to_invoice(database_url, 12)
    env = environment(database_url, tmp_path)
    archive = Path(env["LEDGER_INVOICE_DIR"])
    queued = run_month(env, "--no-wait")
    assert queued.returncode == 0, queued.stdout + queued.stderr

    doomed = start_worker(env, tmp_path / "doomed.log")
    try:
        wait_for(lambda: archived_count(database_url) >= 2 and issue_jobs(database_url).get("doing") == 1,
                 MONTH_TIMEOUT, "2 archived PDFs with a job in hand", doomed)
    finally:
        kill_now(doomed)
    left = issue_jobs(database_url)
    assert left.get("doing") == 1, left  # the killed worker's job, held by no one
    assert left.get("succeeded", 0) < len(codes)

    rescuer = start_worker(env, tmp_path / "rescuer.log")
    try:
        wait_for(lambda: issue_jobs(database_url) == {"succeeded": 12}, MONTH_TIMEOUT, "the month finished",
                 rescuer)
    finally:
        assert stop_gracefully(rescuer) == 0

    assert "queued again" in (tmp_path / "rescuer.log").read_text()
    assert_issued_once_gapless_and_archived(database_url, archive, codes)
    verified = ledger_verify(env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@postgres_only
def test_a_second_run_for_the_same_month_waits_for_the_first_and_queues_nothing_more(database_url, tmp_path):
    codes = clients_to_invoice(database_url, 6)
    env = environment(database_url, tmp_path)
    first = start_ledger(env, tmp_path / "first.log", *RUN)
    wait_for(lambda: "client job(s) queued" in (tmp_path / "first.log").read_text(), 120,
             "the first run's jobs", first)
    try:
        refused = run_month(env, "--no-wait")
        second = start_ledger(env, tmp_path / "second.log", *RUN)
        wait_for(lambda: "running already" in (tmp_path / "second.log").read_text(), 60,
                 "the second run waiting", second)
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            assert first.wait(timeout=MONTH_TIMEOUT) == 0, (tmp_path / "first.log").read_text()
            assert second.wait(timeout=MONTH_TIMEOUT) == 0, (tmp_path / "second.log").read_text()
        finally:
            assert stop_gracefully(worker) == 0
    finally:
        kill_now(first)

    assert refused.returncode == 1
    assert f"a batch for {QUEUED_PERIOD} is running" in refused.stderr
    second_output = (tmp_path / "second.log").read_text()
    assert f"{QUEUED_PERIOD}: 0 client job(s) queued" in second_output
    assert f"{QUEUED_PERIOD}: 6 issued, 0 with nothing to bill, 0 failed" in second_output
    assert issue_jobs(database_url) == {"succeeded": 6}
    assert_issued_once_gapless_and_archived(database_url, Path(env["LEDGER_INVOICE_DIR"]), codes)


def test_on_sqlite_the_worker_sends_the_outbox_by_polling_and_stops_on_sigterm(tmp_path, sqlite_template):
    import shutil

    database = tmp_path / "ledger.sqlite3"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    codes = clients_to_invoice(url, 2, billing_emails=True)
    env = environment(url, tmp_path)
    issued = run_month(env, "--workers", "1")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    assert list((tmp_path / "outbox").glob("*.eml")) == []  # the run queues mail; the worker sends it

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: len(invoice_mails(tmp_path / "outbox")) == len(codes), 60, "the invoices' e-mails", worker)
    finally:
        assert stop_gracefully(worker, timeout=30) == 0
    log = (tmp_path / "worker.log").read_text()
    assert "reminders for" in log  # and the day's reminders were queued (and sent) beside them
    assert "worker: stopped" in log


def invoice_mails(outbox: Path) -> list[str]:
    """The subjects of the invoice e-mails in a file outbox (not the reminders that an invoice is overdue)."""
    subjects = [email.message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"]
                for path in outbox.glob("*.eml")]
    return [subject for subject in subjects if INVOICE_MAIL.match(subject)]
