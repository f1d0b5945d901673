"""Posting rate: technician responses through the service versus raw single-row INSERTs.

Each timed service post is one transaction, as a request's: load the case by id,
``log_technician_response`` (lock the client, check the case, allocate FIFO, post the
entry, move the lot), commit. Every response is the first on its own case, so each
charges one incident from a 100,000-incident bundle. The baseline, in the same database
and the same run, inserts the same shape of row into ``entries`` with SQLAlchemy Core:
one INSERT and one COMMIT per row. Rounds alternate between the two.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from ledger.extensions import db
from ledger.models import Case, Entry, Lot, utcnow
from ledger.services.bundles import MAX_BUNDLE, buy_bundle
from ledger.services.clients import create_client
from ledger.services.ratecards import create_rate_card
from ledger.services.support import log_technician_response, open_case

TERM_START = date(2026, 1, 1)
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RESPONDED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
GOAL = 0.5


def run(rounds: int, per_round: int, warmup: int) -> dict:
    """Alternate rounds of service posts and raw inserts; posts per second for each and the ratio."""
    service_client, raw_row = _setup()
    case_ids = _open_cases(service_client, warmup + rounds * per_round)
    _time_service(case_ids[:warmup])
    _time_raw(raw_row, warmup)
    service, raw = Clock(), Clock()
    for number in range(rounds):
        batch = case_ids[warmup + number * per_round: warmup + (number + 1) * per_round]
        if number % 2:
            raw.add(_time_raw(raw_row, per_round))
            service.add(_time_service(batch))
        else:
            service.add(_time_service(batch))
            raw.add(_time_raw(raw_row, per_round))
    posts = rounds * per_round
    _verify(service_client, warmup + posts, raw_row, warmup + posts)
    ratio = raw.wall / service.wall
    return {
        "posts_each": posts,
        "rounds": rounds,
        "service_posts_per_s": posts / service.wall,
        "raw_inserts_per_s": posts / raw.wall,
        "service_ms_per_post": service.wall / posts * 1000,
        "raw_ms_per_insert": raw.wall / posts * 1000,
        "ratio": ratio,
        "goal": f">= {GOAL}",
        "meets_goal": ratio >= GOAL,
        # this process's CPU time only: the whole cost on SQLite, the client side on PostgreSQL
        "service_cpu_ms_per_post": service.cpu / posts * 1000,
        "raw_cpu_ms_per_insert": raw.cpu / posts * 1000,
        "cpu_ratio": raw.cpu / service.cpu,
    }


class Clock:
    """Wall and CPU seconds added up over rounds."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def add(self, spent: tuple[float, float]) -> None:
        self.wall += spent[0]
        self.cpu += spent[1]


def _setup() -> tuple[int, dict]:
    """A client with a 100,000-incident bundle under 'bill', and a second one for the raw rows."""
    session = db.session
    create_rate_card(session, "USD", date(2020, 1, 1))
    clients = []
    for code in ("SERVICE", "RAW"):
        client = create_client(session, code=code, name=f"Bench {code}", currency="USD",
                               locale="en_US", tax_rate=Decimal(10), term_start=TERM_START,
                               overage_policy="bill")
        buy_bundle(session, client, MAX_BUNDLE, TERM_START)
        clients.append(client)
    session.commit()
    service, raw = clients
    raw_lot = session.scalar(sa.select(Lot.id).where(Lot.client_id == raw.id))
    row = dict(client_id=raw.id, effective_on=RESPONDED.date(), unit="incident", role=None,
               quantity=-1, kind="charge", lot_id=raw_lot, activity_id=None, reverses_id=None,
               memo="technician response on C-000000", created_by_id=None)
    service_id = service.id
    session.close()
    return service_id, row


def _open_cases(client_id: int, count: int) -> list[int]:
    """Open ``count`` cases (setup, not timed), committed in batches; returns their ids."""
    from ledger.models import Client

    session = db.session
    ids = []
    for start in range(0, count, 500):
        client = session.get(Client, client_id)
        for _ in range(min(500, count - start)):
            ids.append(open_case(session, client, "Cannot print", "minor", OPENED).id)
        session.commit()
    session.close()
    return ids


def _time_service(case_ids: list[int]) -> tuple[float, float]:
    """Wall and CPU seconds spent posting one response on each case, one transaction each."""
    session = db.session
    wall = cpu = 0.0
    for case_id in case_ids:
        started, cpu_started = time.perf_counter(), time.process_time()
        case = session.get(Case, case_id)
        log_technician_response(session, case, RESPONDED, "Sam Tech")
        session.commit()
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        session.close()
    return wall, cpu


def _time_raw(row: dict, count: int) -> tuple[float, float]:
    """Wall and CPU seconds spent inserting ``count`` entries with Core, one INSERT and COMMIT each."""
    insert = sa.insert(Entry.__table__)
    engine = db.engine
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(count):
        with engine.begin() as connection:
            connection.execute(insert, dict(row, posted_at=utcnow()))
    return time.perf_counter() - started, time.process_time() - cpu_started


def _verify(service_id: int, posts: int, raw_row: dict, inserts: int) -> None:
    """Refuse figures from a run that did not post what it claims."""
    session = db.session
    charged = session.scalar(sa.select(sa.func.count()).select_from(Entry).where(
        Entry.client_id == service_id, Entry.kind == "charge", Entry.quantity == -1))
    remaining = session.scalar(sa.select(Lot.remaining).where(Lot.client_id == service_id))
    raw = session.scalar(sa.select(sa.func.count()).select_from(Entry).where(
        Entry.client_id == raw_row["client_id"], Entry.kind == "charge"))
    session.close()
    if (charged, remaining, raw) != (posts, MAX_BUNDLE - posts, inserts):
        raise SystemExit(f"bench: posting did not add up: charged {charged} of {posts}, "
                         f"lot remaining {remaining}, raw rows {raw} of {inserts}")


def profile(posts: int, top: int = 25) -> str:
    """cProfile of ``posts`` service posts: the functions where the time goes, as text."""
    service_client, _row = _setup()
    case_ids = _open_cases(service_client, posts + 20)
    _time_service(case_ids[:20])
    profiler = cProfile.Profile()
    profiler.enable()
    _time_service(case_ids[20:])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()
