#!/usr/bin/env python3
"""The month's batch as jobs on PostgreSQL: 300 clients issued by 2 `ledger worker`s vs 1.

    python3 bench/batch_workers.py                   # about 10 minutes on 2 idle CPUs; results/batch_workers.json
    python3 bench/batch_workers.py --quick           # 20 clients, a smoke run (results/batch_workers-quick.json)
    python3 bench/batch_workers.py --postgres URL    # the server to make scratch databases on
                                                     # (default: LEDGER_TEST_POSTGRES_URL)

One scratch database is set up with the clients, then copied (``CREATE DATABASE … TEMPLATE``) once
per run, so both runs issue the same month from the same state into an empty archive. A run
starts N ``ledger worker`` processes, waits until each is taking jobs, then times
``ledger invoices run --period 2026-03`` from its start until it returns: it queues one job per
client and waits for the workers to issue, render, archive and record them all. Afterwards every
client must have exactly one invoice, the numbers must run without a gap, and every PDF must match
its recorded SHA-256. **Speed-up = 1-worker seconds ÷ 2-worker seconds, goal ≥ 1.7.**
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from bench.common import machine, write_figures
from bench.invoicing import busy_cpu_seconds, machine_parallel_speedup, other_cpus

START, END = "<!-- batch-workers-results:start -->", "<!-- batch-workers-results:end -->"
PERIOD, TODAY = "2026-03", "2026-04-01"
GOAL = 1.7
SIZES = {"full": 300, "quick": 20}
#: how long one run may take, in seconds
RUN_TIMEOUT = 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 clients, results/batch_workers-quick.json only")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"), metavar="URL")
    parser.add_argument("--clients", type=int, help="another month size (the figures then go to the -quick file)")
    args = parser.parse_args(argv)
    args.quick = args.quick or args.clients is not None
    if not args.postgres:
        raise SystemExit("bench: the job queue needs PostgreSQL: pass --postgres URL or set LEDGER_TEST_POSTGRES_URL")
    report = run(args.postgres, args.clients or SIZES["quick" if args.quick else "full"])
    report["mode"] = "quick" if args.quick else "full"
    print(_markdown(report))
    write_figures(report, "batch_workers-quick.json" if args.quick else "batch_workers.json",
                  None if args.quick else (START, END), _markdown(report))
    return 0


def run(postgres_url: str, clients: int) -> dict:
    """Both runs on copies of one set-up database; the figures as a JSON-ready dict."""
    started = time.perf_counter()
    report = {"clients": clients, "period": PERIOD, "machine": machine(postgres_url)}
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    template = f"ledger_bench_jobs_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    copies: list[str] = []
    try:
        _create(admin, template)
        print(f"setting up {clients} clients …", flush=True)
        _set_up(_url(postgres_url, template), clients)
        report["machine_speedup_before"] = machine_parallel_speedup()
        runs = {}
        with tempfile.TemporaryDirectory(prefix="ledger-bench-jobs-") as folder:
            for workers in (1, 2):
                copy = f"{template}_w{workers}"
                copies.append(copy)
                _create(admin, copy, template)
                print(f"issuing {clients} invoices with {workers} worker(s) …", flush=True)
                runs[workers] = _timed_run(_url(postgres_url, copy), Path(folder) / f"w{workers}", workers,
                                           clients)
                print(f"  {runs[workers]['seconds']:.1f} s", flush=True)
        report["machine_speedup_after"] = machine_parallel_speedup()
    finally:
        for name in [*copies, template]:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    report["one_worker"], report["two_workers"] = runs[1], runs[2]
    report["speedup"] = runs[1]["seconds"] / runs[2]["seconds"]
    report["meets_goal"] = report["speedup"] >= GOAL
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    return report


def _url(postgres_url: str, name: str) -> str:
    return sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def _create(admin, name: str, template: str | None = None) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def _set_up(url: str, count: int) -> None:
    """Migrate, and add ``count`` clients, each with a bundle bought in March (one invoice line or two)."""
    from ledger import create_app
    from ledger.extensions import db
    from ledger.migrate import upgrade
    from ledger.services.bundles import buy_bundle
    from ledger.services.clients import create_client
    from ledger.services.ratecards import create_rate_card
    from ledger.services.seeds import seed_defaults
    from ledger.services.vendor import update_vendor

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        upgrade()
        create_rate_card(db.session, "USD", date(2020, 1, 1))
        seed_defaults(db.session, "USD")
        update_vendor(db.session, app.config, legal_name="Bench Vendor GmbH", address="Hauptstraße 1\n10115 Berlin",
                      country="DE", vat_id="DE136695976", iban="DE89370400440532013000", bic="COBADEFFXXX",
                      email="billing@vendor.example")
        for n in range(1, count + 1):
            client = create_client(db.session, code=f"W{n:04d}", name=f"Client {n}", currency="USD",
                                   locale="en_US", tax_rate=Decimal(10), term_start=date(2026, 1, 1))
            buy_bundle(db.session, client, n % 9 + 1, date(2026, 3, 2))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _environment(url: str, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"LEDGER_DATABASE_URL": url, "LEDGER_INVOICE_DIR": str(folder / "invoices"),
                "LEDGER_INSTANCE_PATH": str(folder / "instance"), "LEDGER_SECRET_KEY": "bench",
                "LEDGER_MAIL_URL": f"file://{folder / 'outbox'}", "PYTHONUNBUFFERED": "1"})
    return env


def _ledger() -> str:
    beside = Path(sys.executable).parent / "ledger"
    return str(beside) if beside.exists() else "ledger"


def _timed_run(url: str, folder: Path, workers: int, clients: int) -> dict:
    folder.mkdir(parents=True)
    env = _environment(url, folder)
    logs = [folder / f"worker-{n}.log" for n in range(workers)]
    processes = []
    for log in logs:
        with open(log, "wb") as sink:
            processes.append(subprocess.Popen([_ledger(), "worker"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True))
    try:
        _wait_until_taking_jobs(processes, logs)
        own_before = _children_cpu()
        busy_before = busy_cpu_seconds()
        began = time.perf_counter()
        done = subprocess.run([_ledger(), "invoices", "run", "--period", PERIOD, "--today", TODAY], env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
        seconds = time.perf_counter() - began
        if done.returncode != 0 or f"{PERIOD}: {clients} issued" not in done.stdout:
            raise SystemExit(f"bench: `ledger invoices run` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=300)
    own = _children_cpu() - own_before  # the workers are reaped now: their CPU time is counted
    jobs = [log.read_text(errors="replace").count("Starting job ledger:issue_client") for log in logs]
    _check(url, Path(env["LEDGER_INVOICE_DIR"]), clients)
    return {"workers": workers, "seconds": seconds, "invoices_per_second": clients / seconds,
            "jobs_per_worker": jobs, "cpu_seconds": own, "other_cpus": other_cpus(busy_before, own, seconds)}


def _wait_until_taking_jobs(processes, logs, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all("Starting worker" in log.read_text(errors="replace") for log in logs):
        if any(process.poll() is not None for process in processes) or time.monotonic() > deadline:
            raise SystemExit("bench: a `ledger worker` did not start:\n" +
                             "\n".join(log.read_text(errors="replace")[-2000:] for log in logs))
        time.sleep(0.2)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check(url: str, archive: Path, clients: int) -> None:
    """Each client invoiced once, numbers without a gap, every PDF matching its recorded hash."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        invoices = connection.execute(sa.text(
            "SELECT c.code, i.number FROM invoices i JOIN clients c ON c.id = i.client_id ORDER BY i.number")).all()
        documents = connection.execute(sa.text(
            "SELECT i.number, d.path, d.sha256 FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id"
        )).all()
    engine.dispose()
    assert len({code for code, _ in invoices}) == len(invoices) == clients, "a client invoiced twice, or missed"
    assert [number for _, number in invoices] == [f"INV-2026-{n:05d}" for n in range(1, clients + 1)], "a gap"
    assert len(documents) == clients, "an invoice without its PDF"
    for number, path, sha256 in documents:
        assert hashlib.sha256((archive / path).read_bytes()).hexdigest() == sha256, number


def _markdown(report: dict) -> str:
    one, two = report["one_worker"], report["two_workers"]
    info = report["machine"]
    control = f"{report['machine_speedup_before']:.2f}× before, {report['machine_speedup_after']:.2f}× after"
    return "\n".join([
        "| benchmark | baseline | measured | ratio | goal |  |",
        "|---|---|---|---|---|---|",
        f"| issue {report['clients']} invoices as jobs on PostgreSQL (pure Python 2 vs 1 process on this "
        f"machine: {control}) | 1 worker {one['seconds']:.1f} s | 2 workers {two['seconds']:.1f} s "
        f"(jobs per worker {'/'.join(map(str, two['jobs_per_worker']))}) | {report['speedup']:.2f}× | ≥ {GOAL}× | "
        f"{'met' if report['meets_goal'] else 'MISSED'} |",
        "",
        f"Measured {info['date']} on {info['cpu_count']} CPU ({info['cpu']}), Python {info['python']}, "
        f"PostgreSQL {info['postgres']}, commit {info['git_commit']}; load average at the start "
        f"{' / '.join(f'{v:.2f}' for v in info['load_average'])}; other processes kept "
        f"{_cpus(one['other_cpus'])} CPUs busy with 1 worker and {_cpus(two['other_cpus'])} with 2; "
        f"whole run {report['seconds']:.0f} s. Full figures: `results/batch_workers.json`.",
    ])


def _cpus(value) -> str:
    return "unknown" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
