"""Scratch databases, timing helpers and the description of the machine the figures come from."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def scratch_app(engine: str, postgres_url: str | None = None):
    """An app on a fresh migrated database (a temp SQLite file, or a scratch PostgreSQL
    database dropped afterwards); yields the app inside its app context."""
    from ledger import create_app
    from ledger.extensions import db
    from ledger.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        os.environ["LEDGER_INSTANCE_PATH"] = str(Path(folder) / "instance")
        with _database(engine, postgres_url, Path(folder)) as url:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                              "INVOICE_DIR": str(Path(folder) / "invoices")})
            with app.app_context():
                upgrade()
                try:
                    yield app
                finally:
                    db.session.remove()
                    db.engine.dispose()


@contextlib.contextmanager
def _database(engine: str, postgres_url: str | None, folder: Path):
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    name = f"ledger_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def summary(seconds: list[float], cpu_seconds: list[float]) -> dict:
    """Median, 95th percentile and mean of wall-clock durations, and the median CPU time, in ms."""
    return {
        "calls": len(seconds),
        "median_ms": statistics.median(seconds) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "mean_ms": statistics.fmean(seconds) * 1000,
        "cpu_median_ms": statistics.median(cpu_seconds) * 1000,
    }


def percentile(values: list[float], percent: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def machine(postgres_url: str | None) -> dict:
    """What the figures were measured on."""
    import sqlalchemy

    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "flask": _version("flask"),
        "postgres": None,
        "git_commit": _git_commit(),
        #: 1, 5 and 15-minute load averages at the start: other work on the machine skews figures
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if postgres_url:
        admin = sa.create_engine(postgres_url)
        with admin.connect() as connection:
            show = connection.exec_driver_sql
            info["postgres"] = show("SHOW server_version").scalar()
            info["postgres_durability"] = {name: show(f"SHOW {name}").scalar()
                                           for name in ("fsync", "synchronous_commit")}
        admin.dispose()
    return info


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"


def write_figures(report: dict, name: str, section: tuple[str, str] | None, markdown: str) -> None:
    """Write ``results/name`` as JSON; for a full run, replace the README section between the markers."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"figures written to {path.relative_to(ROOT)}")
    if section is None or not README.exists():
        return
    start, end = section
    text = README.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _old, tail = rest.split(end, 1)
        README.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
        print(f"results updated in {README.relative_to(ROOT)}")
