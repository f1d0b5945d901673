#!/usr/bin/env python3
"""Invoicing benchmarks: one invoice's render, the monthly batch on 2 workers vs 1, balance reads during a batch.

    python3 bench/invoicing.py                  # 3–4 minutes on 2 idle CPUs; writes results/invoicing.json
    python3 bench/invoicing.py --quick          # a smoke run, under a minute (results/invoicing-quick.json)
    python3 bench/invoicing.py --wait-quiet 600 # first wait up to 10 minutes for a quiet machine
    python3 bench/invoicing.py --profile        # also print where one invoice's render spends its time

SQLite only. Every figure is measured against a baseline in the same run, on the same data:
1. ``render_invoice_pdf`` (Jinja/Babel HTML, locked fetcher) vs bare WeasyPrint on the same HTML;
2. ``batch.render_missing`` of a month's invoices with 2 worker processes vs 1, on identical copies;
3. p95 of ``GET /api/v1/clients/{code}/balance`` from ``ledger serve`` while ``ledger invoices run``
   issues and renders the month, vs the same server idle.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import http.client
import io
import json
import multiprocessing
import os
import pstats
import random
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import machine, percentile, scratch_app, write_figures

START, END = "<!-- invoicing-results:start -->", "<!-- invoicing-results:end -->"

#: the month invoiced, and the day the batch runs (the simulated "today")
PERIOD = "2026-03"
TODAY = date(2026, 4, 1)
HISTORY_FROM = date(2026, 1, 2)
SEED = 20260301
GOALS = {"render_ratio": 1.15, "batch_speedup": 1.7, "read_p95_ratio": 3.0}

#: how much each run does
SIZES = {
    "full": {"clients": 200, "renders": 20, "warmup": 3, "idle_reads": 150, "pace_ms": 20},
    "quick": {"clients": 12, "renders": 4, "warmup": 1, "idle_reads": 40, "pace_ms": 20},
}
#: a 1-minute load average above this (per CPU) makes the figures suspect: other work shares the CPUs
BUSY_LOAD_PER_CPU = 0.5
#: other processes using more CPUs than this, on average, while a part is timed make it suspect
BUSY_OTHER_CPUS = 0.25

#: (currency, locale, tax rate %): the clients cycle through these
MARKETS = (("USD", "en_US", "8.25"), ("EUR", "de_DE", "19"), ("CAD", "fr_CA", "14.975"))
BUNDLES = (10, 25, 40, 80)
SUBJECTS = ("Printer queue stuck after update", "VPN drops every hour", "Month-end report times out",
            "New hire needs accounts", "Backup job failed overnight", "ERP login error 401",
            "Email delivery delayed", "Warehouse scanner offline", "Invoice export missing rows")
TECHNICIANS = ("Priya Raman", "Jonas Weber", "Amélie Tremblay", "Sam Okafor")


# --- the run -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.render_child:
        print(json.dumps(_render_child(*args.render_child)))
        return 0
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    report = run(quick=args.quick, profile=args.profile)
    print()
    print(_text_table(table(report)))
    print(f"\n{report['mode']} run in {report['seconds']:.0f} s; "
          f"load average at the start {_load_text(report['machine']['load_average'])}")
    print(_busy_text(report))
    if report["busy_machine"]:
        print("WARNING: other processes took CPU time while parts were timed; wall-clock figures, "
              "the batch speed-up above all, are not to be trusted: run it again on a quiet machine")
    _write(report, args.quick)
    return 0


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with 12 clients")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of invoice renders")
    parser.add_argument("--wait-quiet", type=int, metavar="SECONDS", default=0,
                        help="first wait (at most SECONDS) for the 1-minute load average to drop")
    parser.add_argument("--render-child", nargs=3, metavar=("DATABASE", "INVOICE_DIR", "WORKERS"),
                        help=argparse.SUPPRESS)  # internal: one render_missing in a fresh process
    return parser.parse_args(argv)


def run(quick: bool = False, profile: bool = False) -> dict:
    """Every invoicing figure, as a JSON-ready dict (``bench/run.py`` may call this)."""
    size = SIZES["quick" if quick else "full"]
    started = time.perf_counter()
    report = {"mode": "quick" if quick else "full", "sizes": size, "machine": machine(None),
              "period": PERIOD}
    with scratch_app("sqlite") as app:
        folder = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent
        print(f"setting up {size['clients']} clients with three months of support …", flush=True)
        setup = build(app, size["clients"])
        built = snapshot(app, folder / "built.sqlite3")
        issuing = time.perf_counter()
        numbers = _issue(app, size["clients"])
        issue_seconds = time.perf_counter() - issuing
        issued = snapshot(app, folder / "issued.sqlite3")
        # batch.issue is one transaction: on SQLite it holds the write lock this long
        report["setup"] = setup | {"invoices_issued": len(numbers), "issue_seconds": issue_seconds}
        print(f"1. one invoice's render: app vs bare WeasyPrint ({size['renders']} each) …", flush=True)
        report["render"] = render_benchmark(app, size["renders"], size["warmup"])
        if profile:
            print(profile_render(app, 10))
        print(f"2. render {len(numbers)} invoices with 1 worker, then with 2 …", flush=True)
        report["batch"] = batch_benchmark(issued, folder, len(numbers))
        print("3. balance reads from `ledger serve` during `ledger invoices run` vs idle …", flush=True)
        report["reads"] = reads_benchmark(built, folder, setup, size)
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    # Our own work raises the load average, so what counts is the CPU other processes took.
    others = [report["render"]["other_cpus"],
              *(r["other_cpus"] for r in report["batch"]["one_worker"] + report["batch"]["two_workers"])]
    report["busy_machine"] = any(value is None or value > BUSY_OTHER_CPUS for value in others)
    return report


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def other_cpus(busy_before: float | None, own_cpu_seconds: float, wall_seconds: float) -> float | None:
    """How many CPUs other processes kept busy, on average, over ``wall_seconds``."""
    busy_after = busy_cpu_seconds()
    if busy_before is None or busy_after is None:
        return None
    return max(0.0, busy_after - busy_before - own_cpu_seconds) / wall_seconds


def wait_until_quiet(limit: int) -> None:
    """Wait up to ``limit`` seconds for the 1-minute load average to fall below the busy mark."""
    deadline = time.monotonic() + limit
    mark = BUSY_LOAD_PER_CPU * (os.cpu_count() or 1)
    while os.getloadavg()[0] > mark and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: load {os.getloadavg()[0]:.2f} > {mark:.2f} …", flush=True)
        time.sleep(15)


# --- set-up: 200 clients with a realistic month --------------------------------------


def build(app, count: int) -> dict:
    """Clients in three currencies, each with bundles, cases, responses, appointments and (some) quotes.

    Terms start on the first of every month of 2025, so a twelfth of the clients renew
    in March (maintenance fee) and others cross a term end in January or February
    (rollover and expiry). Small bundles run into overage; every fourth client accepts a
    quote in March and logs work against it, and every eighth one works beyond it.
    """
    from ledger.extensions import db
    from ledger.models import Activity, Entry
    from ledger.services import ratecards, users

    started = time.perf_counter()
    session = db.session
    rng = random.Random(SEED)
    for currency in sorted({market[0] for market in MARKETS}):
        ratecards.create_rate_card(session, currency, date(2020, 1, 1))
    manager = users.create_user(session, "manager@example.com", "account_manager")
    token = users.create_token(session, manager)
    session.commit()
    codes = []
    for index in range(count):
        codes.append(_client_history(session, index, rng, manager).code)
        session.commit()
    from sqlalchemy import func, select

    counted = {
        "clients": count,
        "activities": session.scalar(select(func.count()).select_from(Activity)),
        "entries": session.scalar(select(func.count()).select_from(Entry)),
        "overage_entries": session.scalar(select(func.count()).select_from(Entry).where(Entry.kind == "overage")),
    }
    session.close()
    return counted | {"seconds": time.perf_counter() - started, "codes": codes, "token": token}


def _client_history(session, index: int, rng: random.Random, manager):
    from ledger import billing
    from ledger.money import Money
    from ledger.services import bundles, clients, terms

    currency, locale, tax = MARKETS[index % len(MARKETS)]
    term_start = date(2025, index % 12 + 1, 1)
    client = clients.create_client(
        session, code=f"C{index + 1:04d}", name=f"Client {index + 1} Manufacturing", currency=currency,
        locale=locale, tax_rate=Decimal(tax), term_start=term_start,
        maintenance_fee=Money(Decimal(6000 + 500 * (index % 7)), currency), overage_policy="bill",
        address=f"{100 + index} Industrial Way\nSpringfield\n{currency[:2]}",
    )
    size = BUNDLES[index // 3 % len(BUNDLES)]
    bundles.buy_bundle(session, client, size, HISTORY_FROM)
    term = billing.term_containing(term_start, HISTORY_FROM)
    zone = timezone(timedelta(hours=(-5, 1, -4)[index % 3]))
    day = HISTORY_FROM
    while day < TODAY:
        if day > term.end:
            terms.close_client_terms(session, client, day)
            term = billing.term_containing(term_start, day)
            bundles.buy_bundle(session, client, size, term.start)
        _support_day(session, client, day, zone, rng)
        day += timedelta(days=rng.randint(7, 15))
    if index % 4 == 0:
        _quote_and_work(session, client, rng, manager, beyond=index % 8 == 0)
    return client


def _support_day(session, client, day: date, zone, rng: random.Random) -> None:
    """A new case: a help-desk answer, or technician responses and now and then an appointment."""
    from ledger.services import support

    opened = datetime.combine(day, clock(rng.randint(8, 15), rng.choice((0, 15, 30, 45))), zone)
    case = support.open_case(session, client, rng.choice(SUBJECTS),
                             rng.choice(("critical", "major", "moderate", "minor")), opened)
    technician = rng.choice(TECHNICIANS)
    if rng.random() < 0.25:
        support.log_helpdesk_answer(session, case, opened + timedelta(minutes=4), "Help desk",
                                    "Answered on the phone: password reset.")
        return
    support.log_technician_response(session, case, opened + timedelta(minutes=rng.randint(10, 90)),
                                    technician, "Remote session; collected logs.")
    if rng.random() < 0.5:
        support.log_technician_response(session, case, opened + timedelta(hours=3), technician,
                                        "Follow-up: confirmed fixed.")
    if rng.random() < 0.3:
        start = opened + timedelta(hours=20)
        support.log_appointment(session, case, start, start + timedelta(minutes=rng.choice((45, 75, 100, 150))),
                                technician, "On-site visit.")


def _quote_and_work(session, client, rng: random.Random, manager, beyond: bool) -> None:
    """A quote accepted in March with work drawn from it (beyond it when ``beyond``)."""
    from ledger import billing
    from ledger.services import quotes, work

    line = billing.QuoteLineRequest
    made = date(2026, 3, 2)
    quote = quotes.create_quote(session, client, [line("analyst", "day", Decimal(2)),
                                                  line("developer", "hour", Decimal(rng.choice((16, 24, 40))))],
                                made + timedelta(days=30), made, user=manager)
    quotes.send_quote(session, quote, made, user=manager)
    quotes.accept_quote(session, quote, made + timedelta(days=2), user=manager)
    day, budget = made + timedelta(days=3), (60 if beyond else 12) * 60
    while day < TODAY and budget > 0:
        minutes = rng.choice((50, 90, 120, 180, 240))
        work.log_work(session, client, rng.choice(("analyst", "developer", "developer")), minutes, day,
                      rng.choice(("Requirements workshop", "Report changes", "Data migration script")),
                      user=manager)
        budget -= minutes
        day += timedelta(days=rng.randint(1, 3))


def _issue(app, expected: int) -> list[str]:
    from ledger import batch

    numbers, skipped = batch.issue(app, PERIOD, TODAY)
    if len(numbers) != expected or skipped:
        raise SystemExit(f"bench: issued {len(numbers)} invoices for {expected} clients (skipped {skipped})")
    return numbers


def snapshot(app, target: Path) -> Path:
    """A consistent copy of the app's SQLite database (SQLite's online backup)."""
    from ledger.extensions import db

    db.session.remove()
    source = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    copy.close()
    source.close()
    return target


def _copy(snapshot_path: Path, target: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(snapshot_path, target)
    return f"sqlite:///{target}"


# --- 1. one invoice: the app's render vs bare WeasyPrint ------------------------------


def render_benchmark(app, renders: int, warmup: int) -> dict:
    """Median wall and CPU time of the app's render, the locked render of the same HTML, and bare WeasyPrint.

    The three alternate, in a rotating order, after ``warmup`` untimed rounds. The
    invoice is the median one by lines and statement rows; its rows are loaded before
    timing, so the database is not part of the figure.
    """
    from ledger import pdf
    from ledger.extensions import db

    invoice = _typical_invoice(db.session)
    html = captured_html(invoice, app.config)
    sides = {
        "app": lambda: pdf.render_invoice_pdf(invoice, app.config),
        "locked_render_pdf": lambda: pdf.render_pdf(html),
        "bare": lambda: _bare(html),
    }
    sizes = {name: len(render()) for name, render in sides.items()}
    pages = _pages(html)
    load = list(os.getloadavg())
    times = {name: ([], []) for name in sides}
    order = list(sides)
    busy, loop_started, loop_cpu = busy_cpu_seconds(), time.perf_counter(), time.process_time()
    for number in range(warmup + renders):
        for name in order[number % 3:] + order[:number % 3]:
            started, cpu_started = time.perf_counter(), time.process_time()
            sides[name]()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if number >= warmup:
                times[name][0].append(wall)
                times[name][1].append(cpu)
    others = other_cpus(busy, time.process_time() - loop_cpu, time.perf_counter() - loop_started)
    figures = {name: _summary(*times[name]) for name in sides}
    ratio = figures["app"]["median_ms"] / figures["bare"]["median_ms"]
    return {
        "invoice": invoice.number, "client": invoice.client.code, "locale": invoice.client.locale,
        "lines": len(invoice.lines), "statement_charges": len(invoice.statement.get("charges", [])),
        "pages": pages, "pdf_bytes": sizes, "html_bytes": len(html.encode()),
        "load_average": load, "other_cpus": others,
        **figures,
        "html_build_ms": html_build_ms(invoice, app.config),
        # a difference of two medians: within a few ms of noise
        "locked_fetcher_ms": figures["locked_render_pdf"]["median_ms"] - figures["bare"]["median_ms"],
        "ratio": ratio,
        "cpu_ratio": figures["app"]["cpu_median_ms"] / figures["bare"]["cpu_median_ms"],
        "fastest_ratio": figures["app"]["min_ms"] / figures["bare"]["min_ms"],
        "goal": f"<= {GOALS['render_ratio']}", "meets_goal": ratio <= GOALS["render_ratio"],
    }


def _typical_invoice(session):
    from sqlalchemy import select

    from ledger.models import Invoice

    invoices = session.scalars(select(Invoice).where(Invoice.kind == "invoice")).all()
    ranked = sorted(invoices, key=lambda i: (len(i.lines), len(i.statement.get("charges", [])), i.id))
    return ranked[len(ranked) // 2]


def captured_html(invoice, config) -> str:
    """The HTML ``render_invoice_pdf`` hands to ``render_pdf``, caught on its way (once, untimed)."""
    from ledger import pdf

    caught = []
    original = pdf.render_pdf
    pdf.render_pdf = lambda html: caught.append(html) or original(html)
    try:
        pdf.render_invoice_pdf(invoice, config)
    finally:
        pdf.render_pdf = original
    return caught[0]


def html_build_ms(invoice, config, calls: int = 50) -> float:
    """Median ms of ``render_invoice_pdf`` with rendering left out: Jinja, Babel and the chart only."""
    from ledger import pdf

    original = pdf.render_pdf
    pdf.render_pdf = lambda html: b""
    try:
        times = []
        for _ in range(calls + 5):
            started = time.perf_counter()
            pdf.render_invoice_pdf(invoice, config)
            times.append(time.perf_counter() - started)
    finally:
        pdf.render_pdf = original
    return statistics.median(times[5:]) * 1000


def _bare(html: str) -> bytes:
    """WeasyPrint as its documentation shows it: the default fetcher, the same base URL as the app's."""
    import weasyprint

    from ledger.pdf import STATIC, stylesheet_url

    # the app hands its stylesheet to WeasyPrint apart from the HTML; bare WeasyPrint parses it every time
    return weasyprint.HTML(string=html, base_url=STATIC.as_uri() + "/").write_pdf(stylesheets=[stylesheet_url()])


def _pages(html: str) -> int:
    """The page count, which must be the same through the locked fetcher and the default one."""
    import weasyprint

    from ledger.pdf import STATIC, render_document, stylesheet_url

    base = STATIC.as_uri() + "/"
    locked = len(render_document(html).pages)
    bare = len(weasyprint.HTML(string=html, base_url=base).render(stylesheets=[stylesheet_url()]).pages)
    if locked != bare:
        raise SystemExit(f"bench: the bare render has {bare} pages, the app's {locked}")
    return locked


def _summary(seconds: list[float], cpu: list[float]) -> dict:
    return {"calls": len(seconds), "median_ms": statistics.median(seconds) * 1000,
            "p95_ms": percentile(seconds, 95) * 1000, "min_ms": min(seconds) * 1000,
            "cpu_median_ms": statistics.median(cpu) * 1000}


def profile_render(app, renders: int, top: int = 30) -> str:
    """cProfile of ``renders`` app renders and as many bare ones, as text."""
    from ledger import pdf
    from ledger.extensions import db

    invoice = _typical_invoice(db.session)
    html = captured_html(invoice, app.config)
    out = io.StringIO()
    for label, render in (("app: render_invoice_pdf", lambda: pdf.render_invoice_pdf(invoice, app.config)),
                          ("bare WeasyPrint", lambda: _bare(html))):
        render()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(renders):
            render()
        profiler.disable()
        out.write(f"\n=== {label}, {renders} renders ===\n")
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- 2. the batch: 2 workers vs 1 ----------------------------------------------------


def batch_benchmark(issued: Path, folder: Path, count: int, rounds: int = 1) -> dict:
    """Wall time of ``render_missing`` on identical copies of the issued month, 1 worker vs 2.

    Each measurement runs in a fresh interpreter (as ``ledger invoices run`` does), so
    the worker peaks are those of a process that holds only the app. Further rounds,
    if asked for, alternate the order: 1 then 2, 2 then 1.
    """
    runs = {1: [], 2: []}
    digests = {}
    machine_speedups = [machine_parallel_speedup()]
    for number in range(rounds):
        for workers in ((1, 2) if number % 2 == 0 else (2, 1)):
            target = folder / f"batch-{number}-{workers}"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            url = _copy(issued, target / "ledger.sqlite3")
            result = _render_in_child(url, target / "invoices", workers)
            digests[(number, workers)] = _verify_archive(url, target / "invoices", count)
            runs[workers].append(result)
            machine_speedups.append(machine_parallel_speedup())
            print(f"   {workers} worker(s): {result['rendered']} PDFs in {result['seconds']:.1f} s, "
                  f"{result['cpu_seconds']:.1f} CPU s; other processes kept "
                  f"{_cpus_text(result['other_cpus'])} CPUs busy", flush=True)
            shutil.rmtree(target, ignore_errors=True)
    one = statistics.median(r["seconds"] for r in runs[1])
    two = statistics.median(r["seconds"] for r in runs[2])
    speedup = one / two
    cpu_one = statistics.median(r["cpu_seconds"] for r in runs[1])
    cpu_two = statistics.median(r["cpu_seconds"] for r in runs[2])
    return {
        "invoices": count,
        "one_worker": runs[1], "two_workers": runs[2],
        "one_worker_seconds": one, "two_workers_seconds": two,
        "one_worker_ms_per_invoice": one / count * 1000, "two_workers_ms_per_invoice": two / count * 1000,
        "speedup": speedup,
        "cpu_seconds": {"one_worker": cpu_one, "two_workers": cpu_two},
        # the speed-up two idle CPUs would give, from the CPU time each way took
        "cpu_bound_speedup": 2 * cpu_one / cpu_two,
        # the control, before and after each run: pure Python in 2 processes vs 1 on this machine
        "machine_speedups": machine_speedups,
        "machine_speedup": statistics.median(machine_speedups),
        "peak_kib_per_worker": {"one_worker": max(max(r["peaks_kib"]) for r in runs[1]),
                                "two_workers": max(max(r["peaks_kib"]) for r in runs[2])},
        "same_pdf_bytes_every_run": len(set(digests.values())) == 1,
        "goal": f">= {GOALS['batch_speedup']}", "meets_goal": speedup >= GOALS["batch_speedup"],
    }


def machine_parallel_speedup(rounds: int = 5) -> float:
    """What this machine gives at best: the same pure-Python work in 2 processes at once vs one after the other."""
    context = multiprocessing.get_context("fork")
    speedups = []
    with context.Pool(2) as pool:  # (forked: a worker needs nothing of ours but _spin)
        pool.map(_spin, [1000] * 2)  # both workers started
        for _ in range(rounds):
            started = time.perf_counter()
            _spin(SPIN), _spin(SPIN)
            one = time.perf_counter() - started
            started = time.perf_counter()
            pool.map(_spin, [SPIN] * 2, chunksize=1)
            speedups.append(one / (time.perf_counter() - started))
    return statistics.median(speedups)


#: iterations of ``_spin``: about a third of a second of one CPU
SPIN = 1_500_000


def _spin(count: int) -> int:
    value = 0
    for number in range(count):
        value = (value * 31 + number) % 1_000_003
    return value


def _render_in_child(url: str, invoice_dir: Path, workers: int) -> dict:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--render-child", url, str(invoice_dir), str(workers)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=_child_environment(invoice_dir.parent),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: the render child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _render_child(url: str, invoice_dir: str, workers: str) -> dict:
    """In a fresh interpreter: the app, then ``render_missing`` timed; wall, CPU and worker peaks."""
    from ledger import batch, create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INVOICE_DIR": invoice_dir})
    load = list(os.getloadavg())
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = busy_cpu_seconds()
    started = time.perf_counter()
    rendered, peaks = batch.render_missing(app, workers=int(workers))
    seconds = time.perf_counter() - started
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = {field: sum(getattr(after, field) - getattr(before, field)
                        for before, after in ((own, own_after), (children, children_after)))
             for field in ("ru_utime", "ru_stime", "ru_minflt", "ru_nivcsw")}
    cpu = spent["ru_utime"] + spent["ru_stime"]
    return {"workers": int(workers), "rendered": rendered, "seconds": seconds, "cpu_seconds": cpu,
            "user_seconds": spent["ru_utime"], "system_seconds": spent["ru_stime"],
            "page_faults": spent["ru_minflt"], "involuntary_switches": spent["ru_nivcsw"],
            "peaks_kib": list(peaks), "load_average": load, "other_cpus": other_cpus(busy, cpu, seconds)}


def _verify_archive(url: str, invoice_dir: Path, count: int) -> str:
    """Refuse a run that did not archive every invoice intact; a digest of all their hashes."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    rows = connection.execute("SELECT path, sha256 FROM invoice_documents ORDER BY path").fetchall()
    connection.close()
    if len(rows) != count:
        raise SystemExit(f"bench: {len(rows)} PDFs recorded for {count} invoices")
    for path, digest in rows:
        if hashlib.sha256((invoice_dir / path).read_bytes()).hexdigest() != digest:
            raise SystemExit(f"bench: {path} does not match its recorded SHA-256")
    return hashlib.sha256("".join(digest for _, digest in rows).encode()).hexdigest()


# --- 3. balance reads from the served app, idle vs during a batch ------------------------


def reads_benchmark(built: Path, folder: Path, setup: dict, size: dict) -> dict:
    """p95 of paced balance reads from ``ledger serve --workers 2``: idle, during a batch, idle again."""
    target = folder / "served"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    url = _copy(built, target / "ledger.sqlite3")
    env = _child_environment(target) | {"LEDGER_DATABASE_URL": url}
    with serving(env, target) as port:
        reader = Reader(port, setup["token"], setup["codes"], size["pace_ms"] / 1000)
        reader.read(20)  # warm-up: every worker thread has loaded the app's code paths
        idle_before = reader.read(size["idle_reads"])
        load = list(os.getloadavg())
        busy, phases, output = _reads_during_batch(reader, env)
        idle_after = reader.read(size["idle_reads"])
    idle = idle_before + idle_after
    _check_batch_output(output, len(setup["codes"]))
    during = [seconds for _, seconds in busy]
    issuing = [seconds for at, seconds in busy if at < phases["issued_at"]]
    rendering = [seconds for at, seconds in busy if at >= phases["issued_at"]]
    ratio = percentile(during, 95) / percentile(idle, 95)
    return {
        "server": "ledger serve --workers 2 (gunicorn gthread, 2 threads each)",
        "batch": "ledger invoices run --period 2026-03 --workers 2",
        "pace_ms": size["pace_ms"], "load_average_at_batch_start": load,
        "batch_seconds": phases["ended_at"], "batch_issue_seconds": phases["issued_at"],
        "idle": _latency(idle), "idle_before": _latency(idle_before), "idle_after": _latency(idle_after),
        "during_batch": _latency(during), "while_issuing": _latency(issuing),
        "while_rendering": _latency(rendering),
        "p95_ratio": ratio,
        "p95_ratio_while_rendering": percentile(rendering, 95) / percentile(idle, 95) if rendering else None,
        "median_ratio": statistics.median(during) / statistics.median(idle),
        "goal": f"<= {GOALS['read_p95_ratio']}", "meets_goal": ratio <= GOALS["read_p95_ratio"],
    }


def _latency(seconds: list[float]) -> dict:
    if not seconds:
        return {"reads": 0}
    return {"reads": len(seconds), "median_ms": statistics.median(seconds) * 1000,
            "p95_ms": percentile(seconds, 95) * 1000, "p99_ms": percentile(seconds, 99) * 1000,
            "max_ms": max(seconds) * 1000}


class Reader:
    """One keep-alive HTTP connection reading balances in turn, one read every ``pace`` seconds."""

    def __init__(self, port: int, token: str, codes: list[str], pace: float):
        self.port, self.codes, self.pace = port, codes, pace
        self.headers = {"Authorization": f"Bearer {token}"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.turn = 0

    def once(self) -> float:
        code = self.codes[self.turn % len(self.codes)]
        self.turn += 1
        path = f"/api/v1/clients/{code}/balance?as_of={TODAY.isoformat()}"
        started = time.perf_counter()
        try:
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, ConnectionError):  # keep-alive closed by the server: once more
            self.connection.close()
            started = time.perf_counter()
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        if response.status != 200 or b'"available"' not in body:
            raise SystemExit(f"bench: GET {path} answered {response.status}: {body[:300]!r}")
        return seconds

    def read(self, count: int) -> list[float]:
        times = []
        for _ in range(count):
            times.append(self.once())
            time.sleep(self.pace)
        return times


def _reads_during_batch(reader: Reader, env: dict) -> tuple[list[tuple[float, float]], dict, str]:
    """Read until ``ledger invoices run`` ends: (seconds since its start, read time) per read, its phases."""
    command = [_ledger(), "invoices", "run", "--period", PERIOD, "--workers", "2", "--today", TODAY.isoformat()]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    phases, lines = {}, []

    def follow():
        for line in process.stdout:
            lines.append(line)
            if "issued" in line and "issued_at" not in phases:
                phases["issued_at"] = time.perf_counter() - started

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    reads = []
    try:
        while process.poll() is None:
            at = time.perf_counter() - started
            reads.append((at, reader.once()))
            time.sleep(reader.pace)
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    phases["ended_at"] = time.perf_counter() - started
    follower.join(timeout=10)
    if process.returncode != 0:
        raise SystemExit(f"bench: `ledger invoices run` exited with {process.returncode}:\n{''.join(lines)[-3000:]}")
    phases.setdefault("issued_at", phases["ended_at"])
    return reads, phases, "".join(lines)


def _check_batch_output(output: str, count: int) -> None:
    if f"{PERIOD}: {count} issued" not in output or f"{count} PDF(s) rendered" not in output:
        raise SystemExit(f"bench: `ledger invoices run` did not issue and render {count}:\n{output[-3000:]}")


@contextlib.contextmanager
def serving(env: dict, folder: Path):
    """``ledger serve --workers 2`` on a free port of 127.0.0.1 until the block ends; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = folder / "server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([_ledger(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--workers", "2"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(port, process, log)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: `ledger serve` exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench: `ledger serve` did not answer /healthz:\n{log.read_text(errors='replace')[-3000:]}")


def _ledger() -> str:
    beside = Path(sys.executable).parent / "ledger"
    return str(beside) if beside.exists() else shutil.which("ledger") or "ledger"


def _child_environment(folder: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "LEDGER_INSTANCE_PATH": str(folder / "instance"),
        "LEDGER_INVOICE_DIR": str(folder / "invoices"),
        "LEDGER_SECRET_KEY": secrets.token_hex(32),
        "PYTHONUNBUFFERED": "1",
        "XDG_RUNTIME_DIR": str(folder),
    })
    return env


# --- results -------------------------------------------------------------------------


def table(report: dict) -> list[tuple[str, ...]]:
    """One row per benchmark: what, baseline, measured, ratio, goal, verdict."""
    render, batch, reads = report["render"], report["batch"], report["reads"]
    peak_mib = batch["peak_kib_per_worker"]["two_workers"] / 1024
    machine = f"pure Python on this machine: {batch['machine_speedup']:.2f}×"
    return [
        ("benchmark", "baseline", "measured", "ratio", "goal", ""),
        (f"one invoice's PDF ({render['pages']} pages, median; CPU ratio {render['cpu_ratio']:.2f})",
         f"bare WeasyPrint {render['bare']['median_ms']:.0f} ms",
         f"render_invoice_pdf {render['app']['median_ms']:.0f} ms", f"{render['ratio']:.2f}",
         f"≤ {GOALS['render_ratio']}", _verdict(render["meets_goal"])),
        (f"render {batch['invoices']} invoices (peak/worker {peak_mib:.0f} MiB; {machine})",
         f"1 worker {batch['one_worker_seconds']:.1f} s", f"2 workers {batch['two_workers_seconds']:.1f} s",
         f"{batch['speedup']:.2f}×", f"≥ {GOALS['batch_speedup']}×", _verdict(batch["meets_goal"])),
        ("balance read p95, served (during ÷ idle)",
         f"idle {reads['idle']['p95_ms']:.1f} ms", f"during batch {reads['during_batch']['p95_ms']:.1f} ms",
         f"{reads['p95_ratio']:.2f}", f"≤ {GOALS['read_p95_ratio']}", _verdict(reads["meets_goal"])),
    ]


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _busy_text(report: dict) -> str:
    batch = report["batch"]
    runs = ", ".join(f"{_cpus_text(r['other_cpus'])} with {r['workers']}"
                     for r in batch["one_worker"] + batch["two_workers"])
    return (f"other processes kept {_cpus_text(report['render']['other_cpus'])} CPUs busy during part 1 "
            f"and {runs} worker(s) in part 2")


def _weasyprint_version() -> str:
    import weasyprint

    return weasyprint.__version__


def _cpus_text(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def _load_text(load) -> str:
    return " / ".join(f"{value:.2f}" for value in load) if load else "unknown"


def _text_table(rows) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _markdown(report: dict) -> str:
    rows = table(report)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    info = report["machine"]
    lines.append("")
    lines.append(f"Measured {info['date']} on {info['cpu_count']} CPU ({info['cpu']}), Python {info['python']}, "
                 f"SQLite {info['sqlite']}, WeasyPrint {_weasyprint_version()}, commit {info['git_commit']}; "
                 f"load average at the start {_load_text(info['load_average'])}; {_busy_text(report)}; "
                 f"whole run {report['seconds']:.0f} s. Full figures: `results/invoicing.json`.")
    return "\n".join(lines)


def _write(report: dict, quick: bool) -> None:
    saved = dict(report, setup={k: v for k, v in report["setup"].items() if k not in ("token", "codes")})
    write_figures(saved, "invoicing-quick.json" if quick else "invoicing.json",
                  None if quick else (START, END), _markdown(report))


if __name__ == "__main__":
    sys.exit(main())
