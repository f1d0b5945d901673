#!/usr/bin/env python3
"""Support Ledger benchmarks: posting rate and balance reads, each against a baseline in the same run.

    python3 bench/run.py                  # SQLite, and PostgreSQL if LEDGER_TEST_POSTGRES_URL is set
    python3 bench/run.py --quick          # a smoke run in a few seconds (writes results/quick.json)
    python3 bench/run.py --postgres URL   # PostgreSQL server to create a scratch database on
    python3 bench/run.py --profile        # also print where a service post spends its time

A full run writes bench/results/latest.json and the results table in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import balance, posting
from bench.common import machine, scratch_app, write_figures

START, END = "<!-- results:start -->", "<!-- results:end -->"

#: how much each run does: posting rounds × posts per round, balance calls per client and date
SIZES = {
    "full": dict(rounds=6, per_round=150, warmup=50, calls=200, big=100_000, small=1_000),
    "quick": dict(rounds=2, per_round=40, warmup=10, calls=20, big=10_000, small=1_000),
}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    size = SIZES["quick" if args.quick else "full"]
    engines = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    started = time.perf_counter()
    report = {"mode": "quick" if args.quick else "full", "sizes": size,
              "machine": machine(args.postgres), "engines": {}}
    for engine, url in engines:
        report["engines"][engine] = _run_engine(engine, url, size)
        if args.profile:
            with scratch_app(engine, url):
                print(f"\n=== where a service post spends its time on {engine} ===")
                print(posting.profile(300 if not args.quick else 50))
    report["seconds"] = time.perf_counter() - started
    rows = table(report)
    print()
    print(_text_table(rows))
    print(f"\n{report['mode']} run in {report['seconds']:.0f} s")
    _write(report, rows, args.quick)
    return 0


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small sizes")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $LEDGER_TEST_POSTGRES_URL)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None,
                        help="SQLite only, even if LEDGER_TEST_POSTGRES_URL is set")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of service posts")
    return parser.parse_args(argv)


def _run_engine(engine: str, url: str | None, size: dict) -> dict:
    print(f"{engine}: posting rate ({size['rounds']} × {size['per_round']} posts each way) …", flush=True)
    with scratch_app(engine, url):
        posts = posting.run(size["rounds"], size["per_round"], size["warmup"])
    print(f"{engine}: balance read ({size['big']:,} vs {size['small']:,} entries, "
          f"{size['calls']} calls each) …", flush=True)
    with scratch_app(engine, url):
        reads = balance.run(size["calls"], size["big"], size["small"], analyze=engine == "postgresql")
    return {"posting": posts, "balance": reads}


def table(report: dict) -> list[tuple[str, ...]]:
    """One row per benchmark and engine: what, engine, baseline, measured, ratio, goal, verdict."""
    rows = [("benchmark", "engine", "baseline", "measured", "ratio", "goal", "", "CPU ratio")]
    for engine, result in report["engines"].items():
        posts, reads = result["posting"], result["balance"]
        rows.append(("posting rate (posts/s)", engine,
                     f"raw INSERT+COMMIT {posts['raw_inserts_per_s']:,.0f}/s",
                     f"service {posts['service_posts_per_s']:,.0f}/s", f"{posts['ratio']:.2f}",
                     "≥ 0.5", _verdict(posts["meets_goal"]), f"{posts['cpu_ratio']:.2f}"))
        small, big = reads["clients"]["small"]["entries"], reads["clients"]["big"]["entries"]
        for when, goal in (("today", "≤ 1.5"), ("past", "info")):
            figures = reads[when]
            rows.append((f"balance() as of {figures['as_of']} (median, p95)", engine,
                         f"{small:,} entries {_ms(figures['small'])}",
                         f"{big:,} entries {_ms(figures['big'])}", f"{figures['ratio']:.2f}", goal,
                         _verdict(figures["meets_goal"]) if "meets_goal" in figures else "",
                         f"{figures['cpu_ratio']:.2f}"))
    return rows


def _ms(summary: dict) -> str:
    return f"{summary['median_ms']:.2f} ms, {summary['p95_ms']:.2f} ms"


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _text_table(rows) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _markdown_table(rows, report: dict) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    info = report["machine"]
    lines.append("")
    lines.append(f"Measured {info['date']} on {info['cpu_count']} CPU ({info['cpu']}), "
                 f"Python {info['python']}, SQLite {info['sqlite']}, "
                 f"PostgreSQL {info['postgres'] or 'not run'}, SQLAlchemy {info['sqlalchemy']}, "
                 f"commit {info['git_commit']}, load average {_load(info)}; "
                 f"whole run {report['seconds']:.0f} s. "
                 "Full figures: `results/latest.json`.")
    return "\n".join(lines)


def _load(info: dict) -> str:
    load = info.get("load_average")
    return "unknown" if not load else f"{load[0]:.1f}"


def _write(report: dict, rows, quick: bool) -> None:
    write_figures(report, "quick.json" if quick else "latest.json", None if quick else (START, END),
                  _markdown_table(rows, report))


if __name__ == "__main__":
    sys.exit(main())
