"""Two hosts over one PostgreSQL: two ``ledger serve`` processes on different ports and two
``ledger worker``s, sharing one database and one invoice archive in an S3-compatible store
(SeaweedFS, started by the suite), as behind a load balancer.

Requests alternate between the hosts; the month's jobs are taken by both workers. Nothing may
depend on which host answered or which worker ran a job.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from ledger import create_app
from ledger.extensions import db
from ledger.services.users import create_token, create_user
from tests.helpers import (
    QUEUED_PERIOD,
    QUEUED_RUN_DAY,
    LiveServer,
    ServedApi,
    assert_issued_once_gapless_and_archived,
    clients_to_invoice,
    in_parallel,
    ledger_command,
    ledger_verify,
    month_on_record,
    running_server,
    s3_objects,
    server_environment,
    start_worker,
    stop_gracefully,
)

pytestmark = [pytest.mark.served, pytest.mark.s3]
postgres_only = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
#: the month the two workers issue
MONTH_OF_CLIENTS = 300
#: how long 300 invoices may take two workers on two busy CPUs, in seconds
MONTH_TIMEOUT = 1800


@pytest.fixture
def shared_archive(s3_environment) -> dict[str, str]:
    """Where both hosts and both workers keep invoices: a bucket of this test's own on SeaweedFS."""
    return s3_environment


@pytest.fixture
def two_hosts(database_url, tmp_path, shared_archive) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Host A and host B: ``ledger serve`` on two ports of 127.0.0.1, one database, one archive."""
    with ExitStack() as stack:
        hosts = tuple(stack.enter_context(running_server(database_url, tmp_path / f"host-{name}",
                                                         env=shared_archive))
                      for name in ("a", "b"))
        yield hosts


def finance_api(database_url: str, host: LiveServer) -> ServedApi:
    """The API of ``host`` as a finance user (who may read invoices and their PDFs)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "set-up", "TESTING": True})
    with app.app_context():
        user = create_user(db.session, f"finance-{host.base_url.rsplit(':', 1)[1]}@example.com", "finance")
        token = create_token(db.session, user)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ServedApi(host.base_url, token)


@postgres_only
def test_30_parallel_first_responses_alternating_hosts_on_20_blocked_incidents_charge_exactly_20(two_hosts):
    a, b = (host.api for host in two_hosts)
    response = a.post("/clients", {"code": "TWOHOST", "name": "Two Hosts Ltd", "currency": "USD",
                                   "locale": "en_US", "tax_rate": "10", "term_start": "2026-01-01",
                                   "overage_policy": "block"})
    assert response.status_code == 201, response.text
    bought = b.post("/clients/TWOHOST/bundles", {"quantity": 20, "purchased_on": "2026-01-05",
                                                 "unit_price": "40.00"})
    assert bought.status_code == 201, bought.text
    cases = []
    for n in range(30):
        opened = (a, b)[n % 2].post("/clients/TWOHOST/cases", {"subject": "Mail is down", "severity": "critical",
                                                                "opened_at": "2026-02-01T09:00:00+00:00"})
        assert opened.status_code == 201, opened.text
        cases.append(opened.json()["number"])
    response_body = {"responded_at": "2026-02-02T10:00:00+00:00", "technician": "Sam"}

    answers = in_parallel([lambda n=n, number=number: (a, b)[n % 2].post(f"/cases/{number}/responses", response_body)
                           for n, number in enumerate(cases)])

    assert Counter(answer.status_code for answer in answers) == {201: 20, 422: 10}, \
        [answer.text[:200] for answer in answers if answer.status_code not in (201, 422)]
    assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 422} == {
        "insufficient_balance"}
    for api in (a, b):  # both hosts see the same books
        balance = api.get("/clients/TWOHOST/balance", as_of="2026-02-28").json()["incidents"]
        assert (balance["available"], balance["overage"]) == (0, 0)
        charges = [e for e in api.all_items("/clients/TWOHOST/entries") if e["kind"] == "charge"]
        assert [e["quantity"] for e in charges] == [-1] * 20


@postgres_only
def test_a_month_of_300_clients_issued_by_two_workers_is_gapless_and_archived_and_reads_the_same_on_both_hosts(
        two_hosts, database_url, tmp_path, shared_archive):
    codes = clients_to_invoice(database_url, MONTH_OF_CLIENTS, prefix="H")
    env = server_environment(database_url, tmp_path / "workers", shared_archive)
    workers = [start_worker(env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        run = subprocess.run(ledger_command("invoices", "run", "--period", QUEUED_PERIOD, "--today", QUEUED_RUN_DAY),
                             env=env, capture_output=True, text=True, timeout=MONTH_TIMEOUT, check=False)
    finally:
        stopped = [stop_gracefully(worker) for worker in workers]

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"{QUEUED_PERIOD}: {MONTH_OF_CLIENTS} issued, 0 with nothing to bill, 0 failed" in run.stdout
    assert stopped == [0, 0]
    stored = s3_objects(shared_archive["LEDGER_ARCHIVE_URL"], shared_archive["LEDGER_S3_ENDPOINT"])
    assert_issued_once_gapless_and_archived(database_url, stored, codes)
    took = [(tmp_path / f"worker-{n}.log").read_text().count("Starting job ledger:issue_client") for n in (1, 2)]
    assert sum(took) >= MONTH_OF_CLIENTS and min(took) > 0, took  # both workers issued part of the month

    host_a, host_b = (finance_api(database_url, host) for host in two_hosts)
    _, documents = month_on_record(database_url)
    for number, _, sha256, _ in documents[:3] + documents[-3:]:
        through_a, through_b = (api.get(f"/invoices/{number}/pdf") for api in (host_a, host_b))
        assert through_a.status_code == through_b.status_code == 200
        assert through_a.content == through_b.content
        assert hashlib.sha256(through_b.content).hexdigest() == sha256

    # a document written through host A (the credit note's PDF, archived by the request) reads on host B
    credited = host_a.post(f"/invoices/{documents[0][0]}/credit-notes", {"reason": "Two-host check"})
    assert credited.status_code == 201, credited.text
    note = credited.json()["number"]
    written, read = host_a.get(f"/invoices/{note}/pdf"), host_b.get(f"/invoices/{note}/pdf")
    assert written.status_code == read.status_code == 200
    assert read.content == written.content
    assert hashlib.sha256(read.content).hexdigest() == host_b.get(f"/invoices/{note}").json()["sha256"]

    verified = ledger_verify(env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT count(*) FROM procrastinate.procrastinate_jobs "
            "WHERE task_name = 'ledger:issue_client' AND status <> 'succeeded'")).scalar() == 0
    engine.dispose()
