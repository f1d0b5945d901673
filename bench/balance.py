"""Balance read: ``balance()`` for a client with 100,000 entries versus one with 1,000.

Both clients have the same kind of history, in the same database: terms since
2016, bundles bought through each term, charged responses and appointments spread
over the years, each ended term closed with rollover and expiry (see history.py).
The big one has 100 times the cases and 10 times the lots. Calls alternate between
the two; each is timed on its own and followed by ``session.close()`` (a request's end).
"""

from __future__ import annotations

import functools
import random
import time
from datetime import date
from decimal import Decimal

from ledger import billing
from ledger.extensions import db
from ledger.models import Entry, Lot
from ledger.services.balances import balance
from ledger.services.clients import create_client
from ledger.services.ratecards import create_rate_card
from ledger.services.terms import close_client_terms

from . import history
from .common import summary

TERM_START = date(2016, 1, 1)
LAST_DAY = date(2026, 6, 30)
#: the day balances are read "today": nothing is dated after it, so kept lot figures are current
TODAY = date(2026, 7, 1)
#: a statement date in the past: lots are summed from their entries
PAST = date(2026, 3, 31)
GOAL = 1.5
SEED = 20260101


def run(calls: int, big_entries: int, small_entries: int, analyze: bool) -> dict:
    """Median and p95 of ``balance()`` today and on a past day, big client versus small."""
    shapes = {
        "small": history.Shape(TERM_START, LAST_DAY, small_entries, lots_per_term=3),
        "big": history.Shape(TERM_START, LAST_DAY, big_entries, lots_per_term=30),
    }
    started = time.perf_counter()
    clients, expected = _build(shapes, analyze)
    built_in = time.perf_counter() - started
    result = {"setup_seconds": built_in, "clients": {}}
    for label, client in clients.items():
        result["clients"][label] = _describe(client) | {"balance_matches_entries": expected[label]}
    for when, as_of in (("today", TODAY), ("past", PAST)):
        timings = _time_calls(clients, as_of, calls)
        small, big = summary(*timings["small"]), summary(*timings["big"])
        result[when] = {"as_of": as_of.isoformat(), "small": small, "big": big,
                        "ratio": big["median_ms"] / small["median_ms"],
                        "p95_ratio": big["p95_ms"] / small["p95_ms"],
                        "cpu_ratio": big["cpu_median_ms"] / small["cpu_median_ms"]}
    result["today"] |= {"goal": f"<= {GOAL}", "meets_goal": result["today"]["ratio"] <= GOAL}
    result["past"] |= {"goal": "information"}
    return result


def _build(shapes: dict[str, history.Shape], analyze: bool):
    """Create the clients, load their generated histories, and check them."""
    session = db.session
    create_rate_card(session, "USD", date(2010, 1, 1))
    clients = {
        label: create_client(session, code=label.upper(), name=f"Bench {label}", currency="USD",
                             locale="en_US", tax_rate=Decimal(10), term_start=shape.term_start,
                             overage_policy="bill")
        for label, shape in shapes.items()
    }
    rows, ids = _histories(tuple((label, shape, clients[label].id) for label, shape in shapes.items()))
    for label in clients:
        history.load(session, rows[label])
    history.finish(session, ids)
    session.commit()
    if analyze:  # what autovacuum does soon after a bulk load; done now so every run plans alike
        session.connection().exec_driver_sql("ANALYZE")
        session.commit()
    expected = {}
    for label, client in clients.items():
        history.check(session, client)
        if close_client_terms(session, client, LAST_DAY):
            raise SystemExit(f"bench: {client.code}'s history left an ended term open")
        session.rollback()
        expected[label] = all(_matches(session, client, rows[label], day) for day in (TODAY, PAST))
    for client in clients.values():
        session.refresh(client)  # loaded, so the calls below can use it after session.close()
    session.close()
    return clients, expected


@functools.lru_cache(maxsize=1)
def _histories(plan: tuple[tuple[str, history.Shape, int], ...]):
    """The generated rows per client (the same for every engine) and the ids they use."""
    ids, rng = history.Ids(), random.Random(SEED)
    return {label: history.generate(client_id, shape, ids, rng) for label, shape, client_id in plan}, ids


def _matches(session, client, rows: history.Rows, as_of: date) -> bool:
    """Whether ``balance()`` agrees with the generated rows on ``as_of``: lots and overage."""
    got = balance(session, client, as_of)
    lots = {lot["id"] for lot in rows.lots if lot["starts_on"] <= as_of <= lot["expires_on"]}
    wanted = {lot_id: 0 for lot_id in lots}
    overage = 0
    term_start = billing.term_containing(client.term_start, as_of).start
    for entry in rows.entries:
        if entry["effective_on"] <= as_of and entry["lot_id"] in wanted:
            wanted[entry["lot_id"]] += entry["quantity"]
        if entry["lot_id"] is None and term_start <= entry["effective_on"] <= as_of:
            overage -= entry["quantity"]
    return {lot.id: lot.remaining for lot in got.lots} == wanted and got.overage == overage


def _describe(client) -> dict:
    session = db.session
    entries = history.count(session, Entry, client)
    lots = history.count(session, Lot, client)
    return {"code": client.code, "entries": entries, "lots": lots}


def _time_calls(clients: dict, as_of: date, calls: int) -> dict[str, tuple[list, list]]:
    """Wall and CPU seconds per ``balance()`` call, alternating clients, after 10 untimed rounds."""
    session = db.session
    timings = {label: ([], []) for label in clients}
    order = list(clients.items())
    for number in range(calls + 10):
        for label, client in order if number % 2 else reversed(order):
            started, cpu_started = time.perf_counter(), time.process_time()
            balance(session, client, as_of)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            session.close()
            if number >= 10:
                timings[label][0].append(wall)
                timings[label][1].append(cpu)
    return timings
