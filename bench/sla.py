#!/usr/bin/env python3
"""Service-level benchmarks: due-time computation, and the monthly SLA report at 100× the cases.

    python3 bench/sla.py                  # SQLite; writes results/sla.json
    python3 bench/sla.py --postgres URL   # also on a scratch PostgreSQL database

1. ``due_time`` for a 20-business-day target on the standard calendar (Toronto, Ontario
   holidays), from 2,000 starts spread over a year: median per call, warm caches (the
   process has met the calendar before) and cold (every cache cleared before each call).
2. ``sla_report`` for a client with 10,000 cases opened in one month against the same
   report for a client with 100, in the same database: median of several calls each,
   the ratio, and the goals (ratio ≤ 150, under 0.5 s for 10,000).
Cases and their status history are inserted in bulk; about a third wait on the customer
once, a half are responded to, a third resolved.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import machine, scratch_app, write_figures

PERIOD = "2026-03"
MONTH_START = datetime(2026, 3, 1, 6, tzinfo=UTC)
NOW = datetime(2026, 4, 15, tzinfo=UTC)
GOAL_RATIO, GOAL_SECONDS = 150, 0.5


def due_times(calls: int = 2000) -> dict:
    """Median microseconds per 20-business-day due time, warm and cold."""
    from ledger import businesstime
    from ledger.businesstime import Calendar, Target, due_time, weekly_hours

    calendar = Calendar("America/Toronto", weekly_hours("mon-fri", "08:00", "18:00"), "CA", "ON")
    target = Target(20, "business_days")
    rng = random.Random(1)
    starts = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(365 * 24 * 60))
              for _ in range(calls)]
    warm = []
    for start in starts:
        began = time.perf_counter()
        due_time(calendar, start, target)
        warm.append(time.perf_counter() - began)
    cold = []
    for start in starts[:200]:
        businesstime._shared_schedule.cache_clear()
        calendar = Calendar(calendar.time_zone, calendar.windows, "CA", "ON")
        businesstime._holiday_set.cache_clear()
        began = time.perf_counter()
        due_time(calendar, start, target)
        cold.append(time.perf_counter() - began)
    return {"calls": calls, "warm_median_us": statistics.median(warm) * 1e6,
            "warm_p95_us": sorted(warm)[int(0.95 * len(warm))] * 1e6,
            "cold_median_us": statistics.median(cold) * 1e6}


def report_ratio(repeats: int) -> dict:
    """Median seconds of the SLA report for 10,000 cases and for 100, and their ratio."""
    from ledger.extensions import db
    from ledger.services.sla import sla_report

    session = db.session
    big, small = _client(session, "BIG", 10_000), _client(session, "SMALL", 100)
    session.commit()
    sla_report(session, small, PERIOD, now=NOW)  # warm the plan's calendar, as a running server has
    timings = {}
    for label, client in (("small", small), ("big", big)):
        spent = []
        for _ in range(repeats):
            session.expire_all()
            began = time.perf_counter()
            report = sla_report(session, client, PERIOD, now=NOW)
            spent.append(time.perf_counter() - began)
        timings[label] = statistics.median(spent)
        assert sum(line.cases for line in report.severities) == (10_000 if label == "big" else 100)
    ratio = timings["big"] / timings["small"]
    return {"cases_big": 10_000, "cases_small": 100, "repeats": repeats,
            "big_median_s": timings["big"], "small_median_s": timings["small"], "ratio": ratio,
            "goal": f"ratio <= {GOAL_RATIO} and big < {GOAL_SECONDS} s",
            "meets_goal": ratio <= GOAL_RATIO and timings["big"] < GOAL_SECONDS}


def _client(session, code: str, cases: int):
    """A client on the standard plan with ``cases`` cases opened in March, inserted in bulk."""
    from decimal import Decimal

    from ledger.models import Case, CaseStatusChange
    from ledger.services.clients import create_client
    from ledger.services.ratecards import create_rate_card
    from ledger.services.sla import seed_support_plans

    if seed_support_plans(session):  # the first client: an empty database needs plans and a rate card
        create_rate_card(session, "USD", date(2020, 1, 1))
    client = create_client(session, code=code, name=code, currency="USD", locale="en_US",
                           tax_rate=Decimal(0), term_start=date(2026, 1, 1), overage_policy="bill")
    rng = random.Random(code)
    rows, changes = [], []
    for number in range(cases):
        opened = MONTH_START + timedelta(minutes=rng.randrange(29 * 24 * 60))
        row = {"number": f"{code}-{number:06d}", "client_id": client.id, "subject": "bench",
               "severity": rng.choice(("critical", "major", "moderate", "minor")), "opened_at": opened,
               "status": "open", "responded_at": None, "resolved_at": None, "resolution": None,
               "created_at": opened}
        if rng.random() < 0.5:
            row["responded_at"] = opened + timedelta(minutes=rng.randrange(5, 3 * 24 * 60))
        rows.append(row)
    session.execute(Case.__table__.insert(), rows)
    ids = dict(session.execute(Case.__table__.select().with_only_columns(
        Case.__table__.c.number, Case.__table__.c.id).where(Case.__table__.c.client_id == client.id)).all())
    for row in rows:
        case_id, at = ids[row["number"]], row["opened_at"]
        at += timedelta(minutes=rng.randrange(10, 600))
        changes.append({"case_id": case_id, "status": "in_progress", "at": at, "created_at": at})
        if rng.random() < 0.35:
            at += timedelta(minutes=rng.randrange(10, 3000))
            changes.append({"case_id": case_id, "status": "waiting_on_customer", "at": at, "created_at": at})
            at += timedelta(minutes=rng.randrange(10, 3000))
            changes.append({"case_id": case_id, "status": "in_progress", "at": at, "created_at": at})
        if rng.random() < 0.33:
            at += timedelta(minutes=rng.randrange(10, 20000))
            changes.append({"case_id": case_id, "status": "resolved", "resolution": "fix", "at": at,
                            "created_at": at})
    session.execute(CaseStatusChange.__table__.insert(),
                    [{"resolution": None, "user_id": None, **change} for change in changes])
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL for a scratch database")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    report = {"machine": machine(args.postgres), "due_time": due_times(), "report": {}}
    engines = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    for engine, url in engines:
        with scratch_app(engine, url):
            report["report"][engine] = report_ratio(args.repeats)
    due = report["due_time"]
    lines = ["| figure | value |", "|---|---|",
             f"| due time, 20 business days, warm (median) | {due['warm_median_us']:.0f} µs |",
             f"| due time, 20 business days, cold caches (median) | {due['cold_median_us']:.0f} µs |"]
    for engine, figures in report["report"].items():
        lines += [f"| SLA report, 10,000 cases ({engine}) | {figures['big_median_s'] * 1000:.0f} ms |",
                  f"| SLA report, 100 cases ({engine}) | {figures['small_median_s'] * 1000:.1f} ms |",
                  f"| ratio ({engine}; goal ≤ {GOAL_RATIO}) | {figures['ratio']:.0f} |"]
    print("\n".join(lines))
    write_figures(report, "sla.json", None, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
