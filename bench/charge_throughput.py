#!/usr/bin/env python3
"""Served charge throughput: technician responses through the API vs a bare one-row INSERT endpoint.

    python3 bench/charge_throughput.py --postgres URL   # about a minute; results/charge_throughput.json
    python3 bench/charge_throughput.py --quick          # a smoke run (results/charge_throughput-quick.json)

``ledger serve --workers 4`` serves a scratch PostgreSQL database with ``LEDGER_BENCH_ENDPOINTS=1``.
Eight client threads, each on its own keep-alive connection and its own client account, post
``POST /api/v1/cases/{number}/responses`` (the first response on a case: one incident charged
from a 100,000-incident bundle, under a bearer token), and, in alternating rounds, the same
number of ``POST /_bench/insert`` to the same server: one Core INSERT of an entry row and a
COMMIT, nothing else. **Ratio = charges/s ÷ bare inserts/s, goal ≥ 0.5.**
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import machine, scratch_app, write_figures

START, END = "<!-- charge-results:start -->", "<!-- charge-results:end -->"
GOAL = 0.5
CLIENTS = 8
WORKERS = 4
TERM_START = date(2026, 1, 1)
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RESPONSE = {"responded_at": "2026-03-02T10:00:00+00:00", "technician": "Bench Tech"}
#: rounds each way × requests per client thread per round, after warm-up requests per thread
SIZES = {"full": dict(rounds=6, per_round=60, warmup=20), "quick": dict(rounds=2, per_round=15, warmup=5)}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.postgres:
        raise SystemExit("charge_throughput: a PostgreSQL server is needed (--postgres URL or "
                         "LEDGER_TEST_POSTGRES_URL)")
    size = SIZES["quick" if args.quick else "full"]
    started = time.perf_counter()
    report = {"mode": "quick" if args.quick else "full", "sizes": size, "clients": CLIENTS,
              "server": f"ledger serve --workers {WORKERS} (gunicorn gthread, 2 threads each)",
              "machine": machine(args.postgres)}
    with scratch_app("postgresql", args.postgres) as app:
        setup = _setup(app, size["warmup"] + size["rounds"] * size["per_round"] + 2)
        report["statements_per_charge"] = statements_per_charge(app, setup)
        with tempfile.TemporaryDirectory(prefix="ledger-bench-serve-") as folder:
            with serving(app.config["SQLALCHEMY_DATABASE_URI"], Path(folder)) as port:
                report |= run(port, setup, **size)
        _verify(app, setup, size)
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    rows = table(report)
    print("\n" + "\n".join("  ".join(row) for row in rows))
    name = "charge_throughput-quick.json" if args.quick else "charge_throughput.json"
    write_figures(report, name, None if args.quick else (START, END), _markdown(rows, report))
    return 0


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small sizes")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $LEDGER_TEST_POSTGRES_URL)")
    return parser.parse_args(argv)


# --- set-up (untimed) ----------------------------------------------------------------------------

def _setup(app, cases_each: int) -> dict:
    """Eight clients with a 100,000-incident bundle and ``cases_each`` open cases each; a token."""
    from ledger.extensions import db
    from ledger.services.bundles import MAX_BUNDLE, buy_bundle
    from ledger.services.clients import create_client
    from ledger.services.seeds import seed_defaults
    from ledger.services.support import open_case
    from ledger.services.users import create_token, create_user

    session = db.session
    seed_defaults(session, "USD")  # what `ledger init` seeds: the home rate card, the support plans
    user = create_user(session, "bench@example.com", "account_manager")
    token = create_token(session, user)
    accounts = []
    for index in range(CLIENTS):
        client = create_client(session, code=f"CH{index}", name=f"Charge bench {index}", currency="USD",
                               locale="en_US", tax_rate=Decimal(10), term_start=TERM_START,
                               overage_policy="bill")
        buy_bundle(session, client, MAX_BUNDLE, TERM_START)
        cases = [open_case(session, client, "Cannot print", "minor", OPENED).number for _ in range(cases_each)]
        accounts.append({"id": client.id, "code": client.code, "cases": cases})
        session.commit()
    session.close()
    return {"token": token, "accounts": accounts, "bundle": MAX_BUNDLE}


def statements_per_charge(app, setup: dict) -> int:
    """SQL statements (COMMIT included) one charge sends, through Flask's test client, in this process.

    The token is used once first: its first use in a minute also records ``last_used_at`` (a write of
    its own), which a steady stream of charges does not pay.
    """
    from sqlalchemy import event

    from ledger.extensions import db

    account = setup["accounts"][0]
    case, first = account["cases"].pop(), account["cases"].pop()  # the last cases: not used by the timed rounds
    sent = []

    def count(*_args, **_kwargs):
        sent.append(1)

    client = app.test_client()
    headers = {"Authorization": f"Bearer {setup['token']}"}
    client.post(f"/api/v1/cases/{first}/responses", json=RESPONSE, headers=headers)
    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", count)
    try:
        response = client.post(f"/api/v1/cases/{case}/responses", json=RESPONSE, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", count)
    if response.status_code != 201:
        raise SystemExit(f"bench: the counted charge answered {response.status_code}: {response.data[:300]!r}")
    db.session.remove()
    return len(sent)


# --- the server -------------------------------------------------------------------------------------

class serving:
    """``ledger serve --workers 4`` with the bench endpoints, on a free port, until the block ends."""

    def __init__(self, url: str, folder: Path):
        self.url, self.folder = url, folder

    def __enter__(self) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = dict(os.environ) | {
            "LEDGER_DATABASE_URL": self.url, "LEDGER_INSTANCE_PATH": str(self.folder / "instance"),
            "LEDGER_INVOICE_DIR": str(self.folder / "invoices"), "LEDGER_SECRET_KEY": secrets.token_hex(32),
            "LEDGER_BENCH_ENDPOINTS": "1", "XDG_RUNTIME_DIR": str(self.folder),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = self.folder / "server.log"
        beside = Path(sys.executable).parent / "ledger"
        with open(self.log, "wb") as sink:
            self.process = subprocess.Popen(
                [str(beside) if beside.exists() else "ledger", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(WORKERS)],
                env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait()
        return self.port

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: `ledger serve` exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("bench: `ledger serve` did not answer /healthz in 60 s")

    def __exit__(self, *_exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- the timed rounds ------------------------------------------------------------------------------

class Poster(threading.Thread):
    """One client thread on one keep-alive connection: posts what :meth:`round` gives it, in turn."""

    def __init__(self, port: int, token: str, account: dict):
        super().__init__(daemon=True)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token, self.account = token, account
        self.next_case = 0

    def charge(self) -> None:
        case = self.account["cases"][self.next_case]
        self.next_case += 1
        self._post(f"/api/v1/cases/{case}/responses", RESPONSE, {"Authorization": f"Bearer {self.token}"})

    def bare(self) -> None:
        self._post("/_bench/insert", {"client_id": self.account["id"]}, {})

    def _post(self, path: str, body: dict, headers: dict) -> None:
        self.connection.request("POST", path, json.dumps(body).encode(),
                                headers | {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 201:
            raise SystemExit(f"bench: POST {path} answered {response.status}: {answer[:300]!r}")


def timed_round(posters: list[Poster], kind: str, count: int) -> float:
    """All threads post ``count`` of ``kind`` at once; seconds from the common start to the last answer."""
    barrier = threading.Barrier(len(posters) + 1)
    errors: list[BaseException] = []

    def work(poster: Poster) -> None:
        poster.connection.close()  # gunicorn drops a keep-alive idle for 2 s: connect afresh each round
        barrier.wait()
        try:
            for _ in range(count):
                getattr(poster, kind)()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(poster,)) for poster in posters]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


def run(port: int, setup: dict, rounds: int, per_round: int, warmup: int) -> dict:
    """Alternate rounds of charges and bare inserts; requests per second each way and the ratio."""
    posters = [Poster(port, setup["token"], account) for account in setup["accounts"]]
    timed_round(posters, "charge", warmup)
    timed_round(posters, "bare", warmup)
    charge = bare = 0.0
    load = []
    for number in range(rounds):
        order = ("charge", "bare") if number % 2 == 0 else ("bare", "charge")
        for kind in order:
            seconds = timed_round(posters, kind, per_round)
            charge, bare = (charge + seconds, bare) if kind == "charge" else (charge, bare + seconds)
        load.append(os.getloadavg()[0])
    requests_each = rounds * per_round * len(posters)
    ratio = bare / charge
    return {
        "requests_each": requests_each, "rounds": rounds,
        "charges_per_s": requests_each / charge, "bare_inserts_per_s": requests_each / bare,
        "charge_ms_per_request": charge / requests_each * 1000, "bare_ms_per_request": bare / requests_each * 1000,
        "ratio": ratio, "goal": f">= {GOAL}", "meets_goal": ratio >= GOAL, "load_average_during": load,
    }


def _verify(app, setup: dict, size: dict) -> None:
    """Every charge posted exactly once from its client's lot; every bare insert there."""
    from sqlalchemy import text

    from ledger.extensions import db

    charges_each = size["warmup"] + size["rounds"] * size["per_round"]
    for index, account in enumerate(setup["accounts"]):
        expected = charges_each + (2 if index == 0 else 0)  # the counted charge and the one before it
        figures = db.session.execute(text(
            "SELECT (SELECT count(*) FROM activities WHERE client_id = :c AND incidents_charged = 1),"
            " (SELECT remaining FROM lots WHERE client_id = :c),"
            " (SELECT count(*) FROM entries WHERE client_id = :c AND memo = 'bench: bare insert')"),
            {"c": account["id"]}).one()
        if tuple(figures) != (expected, setup["bundle"] - expected, charges_each):
            raise SystemExit(f"bench: client {account['code']} has {tuple(figures)}, expected "
                             f"{(expected, setup['bundle'] - expected, charges_each)}")
    db.session.remove()


# --- results -------------------------------------------------------------------------------------

def table(report: dict) -> list[tuple[str, ...]]:
    return [
        ("benchmark", "baseline", "measured", "ratio", "goal", ""),
        (f"served charges, PostgreSQL, {CLIENTS} clients, {WORKERS} workers "
         f"({report['statements_per_charge']} statements a charge, COMMIT included)",
         f"bare INSERT endpoint {report['bare_inserts_per_s']:,.0f}/s",
         f"technician responses {report['charges_per_s']:,.0f}/s", f"{report['ratio']:.2f}",
         f"≥ {GOAL}", "met" if report["meets_goal"] else "MISSED"),
    ]


def _markdown(rows, report: dict) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    info = report["machine"]
    load = ", ".join(f"{value:.1f}" for value in report["load_average_during"])
    lines.append("")
    lines.append(f"Measured {info['date']} on {info['cpu_count']} CPU, PostgreSQL {info['postgres']}, "
                 f"commit {info['git_commit']}; load average during the rounds {load} (a shared machine); "
                 f"whole run {report['seconds']:.0f} s. Full figures: `results/charge_throughput.json`.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
