"""A client's years of history, generated with the billing rules and bulk-loaded (COPY / executemany).

The history is what the services would have written: bundles bought through each
term (each opening a lot), cases with a charged technician response and now and
then an appointment, charges drawn FIFO from the lots with ``billing.allocate``
(overage when they run dry), and each ended term closed with ``billing.rollover``
(up to fifteen incidents roll into a new lot, the rest expire). Every lot's
``remaining`` is the sum of its entries; :func:`check` verifies it after loading.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger import billing
from ledger.models import (
    Activity,
    Bundle,
    Case,
    Client,
    Counter,
    Entry,
    Lot,
    TermClose,
    UTCDateTime,
)
from ledger.services.bundles import MAX_BUNDLE

#: share of cases that also get an appointment (2 to 5 incidents) after the response
APPOINTMENT_SHARE = 0.15
#: bundles bought in a term cover this share of what the term uses, drawn per term
COVER_RANGE = (0.85, 1.15)
#: bundle price, minor units
UNIT_PRICE_MINOR = 20_000
INSERT_BATCH = 5_000


class Ids:
    """Primary keys handed out in posting order, one series per table, shared by all clients."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.last[table] = self.last.get(table, 0) + 1
        return self.last[table]


@dataclass
class Rows:
    """Rows to insert, per table, in foreign-key order."""

    lots: list[dict] = field(default_factory=list)
    bundles: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)
    term_closes: list[dict] = field(default_factory=list)

    TABLES = (("lots", Lot), ("bundles", Bundle), ("cases", Case), ("activities", Activity),
              ("entries", Entry), ("term_closes", TermClose))


@dataclass(frozen=True)
class Shape:
    """How big a client's history is."""

    #: the client's anniversary; terms run a year from it
    term_start: date
    #: the last day with activity; the history covers every term up to it
    last_day: date
    #: ledger entries wanted in all (the result comes within a few percent)
    entries: int
    #: bundles bought in each full term (a few hundred lots over the years for a big client)
    lots_per_term: int


@dataclass
class _Term:
    term: billing.Term
    lots: dict[int, dict] = field(default_factory=dict)


def generate(client_id: int, shape: Shape, ids: Ids, rng: random.Random) -> Rows:
    """The history of one client, term by term, as rows."""
    rows = Rows()
    days_total = (shape.last_day - shape.term_start).days + 1
    # a case posts one entry for its response and, now and then, one for an appointment
    cases_per_day = shape.entries / (1 + APPOINTMENT_SHARE) / days_total
    term = billing.term_containing(shape.term_start, shape.term_start)
    carried: dict | None = None
    while term.start <= shape.last_day:
        current = _Term(term)
        if carried is not None:
            current.lots[carried["id"]] = carried
        end = min(term.end, shape.last_day)
        _simulate_term(rows, client_id, current, end, cases_per_day, shape, ids, rng)
        if term.end >= shape.last_day:
            break
        carried = _close_term(rows, client_id, current, shape, ids)
        term = billing.next_term(shape.term_start, term)
    return rows


def _simulate_term(rows, client_id, current: _Term, end: date, cases_per_day: float,
                   shape: Shape, ids: Ids, rng: random.Random) -> None:
    days = (end - current.term.start).days + 1
    last = datetime.combine(end, time(23, 59), UTC)
    events = _case_events(rows, client_id, current.term.start, days, cases_per_day, last, ids, rng)
    usage = sum(incidents for _when, _order, (_kind, _case, incidents, _minutes) in events)
    full_term = (current.term.end - current.term.start).days + 1
    bundles = max(1, round(shape.lots_per_term * days / full_term))
    cover = usage * rng.uniform(*COVER_RANGE)
    events += [(when, 0, ("buy", None, size, None))
               for when, size in _purchases(current.term.start, days, bundles, cover, rng)]
    for when, _order, (kind, case, quantity, minutes) in sorted(events, key=lambda e: e[:2]):
        if kind == "buy":
            _buy(rows, client_id, current, when, quantity, ids)
        else:
            _activity(rows, client_id, current, case, kind, when, minutes, ids)


def _case_events(rows, client_id, start: date, days: int, per_day: float, last: datetime,
                 ids: Ids, rng: random.Random) -> list:
    """Open cases through the term; each gets a response, some an appointment (charged later)."""
    base = datetime.combine(start, time(), UTC)
    count = max(1, round(per_day * days))
    events = []
    for opened in sorted(base + timedelta(seconds=rng.randrange(days * 86_400)) for _ in range(count)):
        case = _open_case(rows, client_id, opened, ids, rng)
        responded = min(opened + timedelta(minutes=rng.randrange(5, 240)), last)
        events.append((responded, 1, ("technician_response", case, 1, None)))
        if rng.random() < APPOINTMENT_SHARE:
            minutes = rng.randrange(20, 180)
            started = min(responded + timedelta(hours=rng.randrange(1, 48)), last)
            incidents = billing.appointment_incidents(minutes)
            events.append((started, 2, ("appointment", case, incidents, minutes)))
    return events


def _purchases(start: date, days: int, count: int, incidents: float, rng: random.Random):
    """``count`` bundles, the first on the term's first day, sizes adding up to about ``incidents``."""
    base = datetime.combine(start, time(9), UTC)
    offsets = [0] + sorted(rng.randrange(days) for _ in range(count - 1))
    weights = [rng.uniform(0.5, 1.5) for _ in range(count)]
    sizes = [max(1, min(MAX_BUNDLE, round(incidents * w / sum(weights)))) for w in weights]
    return [(base + timedelta(days=offset), size) for offset, size in zip(offsets, sizes)]


def _buy(rows: Rows, client_id: int, current: _Term, when: datetime, quantity: int, ids: Ids) -> None:
    lot = dict(id=ids.next("lots"), client_id=client_id, unit="incident", role=None, kind="purchase",
               quantity=quantity, remaining=0, starts_on=when.date(), expires_on=current.term.end,
               rolled_from=None, closed=False, created_at=when)
    rows.lots.append(lot)
    current.lots[lot["id"]] = lot
    rows.bundles.append(dict(id=ids.next("bundles"), client_id=client_id, lot_id=lot["id"],
                             quantity=quantity, unit_price_minor=UNIT_PRICE_MINOR, currency="USD",
                             purchased_on=when.date(), created_by_id=None, created_at=when))
    _post(rows, client_id, lot, quantity, "purchase", when, None, f"bundle of {quantity} incidents", ids)


def _open_case(rows: Rows, client_id: int, opened: datetime, ids: Ids, rng) -> dict:
    case = dict(id=ids.next("cases"), client_id=client_id, subject="Printer offline",
                severity=rng.choice(("critical", "major", "moderate", "minor")),
                opened_at=opened, created_by_id=None, created_at=opened)
    case["number"] = f"C-{case['id']:06d}"
    rows.cases.append(case)
    return case


def _activity(rows: Rows, client_id: int, current: _Term, case: dict, kind: str,
              at: datetime, minutes: int | None, ids: Ids) -> None:
    """Log a response or an appointment and charge it as ``charge_incidents`` does."""
    incidents = 1 if minutes is None else billing.appointment_incidents(minutes)
    activity = dict(id=ids.next("activities"), client_id=client_id, case_id=case["id"], kind=kind,
                    occurred_at=at, ended_at=None if minutes is None else at + timedelta(minutes=minutes),
                    utc_offset_minutes=0, effective_on=at.date(), minutes=minutes, actor="Sam Tech",
                    note="", incidents_charged=incidents, created_by_id=None, created_at=at)
    rows.activities.append(activity)
    if minutes is None:
        memo = f"technician response on {case['number']}"
    else:
        memo = f"appointment on {case['number']}, {minutes} min = {incidents} incidents"
    open_lots = [lot for lot in current.lots.values() if lot["remaining"] > 0]
    balances = [billing.LotBalance(lot["id"], lot["remaining"], lot["starts_on"], lot["expires_on"],
                                   lot["id"]) for lot in open_lots]
    allocation = billing.allocate(balances, incidents, at.date(), "bill")
    for draw in allocation.draws:
        _post(rows, client_id, current.lots[draw.lot_id], -draw.quantity, "charge", at,
              activity["id"], memo, ids)
    if allocation.overage:
        _post(rows, client_id, None, -allocation.overage, "overage", at, activity["id"],
              f"{memo} (overage)", ids)


def _post(rows: Rows, client_id: int, lot: dict | None, quantity: int, kind: str, at: datetime,
          activity_id: int | None, memo: str, ids: Ids) -> None:
    if lot is not None:
        lot["remaining"] += quantity
    rows.entries.append(dict(id=ids.next("entries"), client_id=client_id, posted_at=at,
                             effective_on=at.date(), unit="incident", role=None, quantity=quantity,
                             kind=kind, lot_id=None if lot is None else lot["id"],
                             activity_id=activity_id, reverses_id=None, memo=memo,
                             created_by_id=None))


def _close_term(rows: Rows, client_id: int, current: _Term, shape: Shape, ids: Ids) -> dict | None:
    """Roll over and expire as ``close_terms`` does; returns the next term's rollover lot, if any."""
    term = current.term
    lots = current.lots
    plan = billing.rollover(billing.LotBalance(lot["id"], lot["remaining"], lot["starts_on"],
                                               lot["expires_on"], lot["id"]) for lot in lots.values())
    following = billing.next_term(shape.term_start, term)
    at = datetime.combine(following.start, time(), UTC)
    carried = None
    if plan.rolled_over:
        carried = dict(id=ids.next("lots"), client_id=client_id, unit="incident", role=None,
                       kind="rollover", quantity=plan.rolled_over, remaining=0,
                       starts_on=following.start, expires_on=following.end, rolled_from=term.end,
                       closed=False, created_at=at)
        rows.lots.append(carried)
        _post(rows, client_id, carried, plan.rolled_over, "rollover_in", at, None,
              f"rolled over from the term ending {term.end.isoformat()}", ids)
    for closing in plan.closings:
        if closing.rolled_over:
            _post(rows, client_id, lots[closing.lot_id], -closing.rolled_over, "rollover_out", at,
                  None, "rolled over into the next term", ids)
        if closing.expired:
            _post(rows, client_id, lots[closing.lot_id], -closing.expired, "expiry", at, None,
                  f"expired: more than {billing.POLICY.rollover_cap} unused", ids)
    for lot in lots.values():
        lot["closed"] = True
    rows.term_closes.append(dict(id=ids.next("term_closes"), client_id=client_id,
                                 term_start=term.start, term_end=term.end,
                                 rolled_over=plan.rolled_over, expired=plan.expired, closed_at=at))
    return carried


def load(session: Session, rows: Rows) -> None:
    """Insert one client's rows: COPY on PostgreSQL, a DBAPI executemany elsewhere."""
    connection = session.connection()
    for name, model in Rows.TABLES:
        table_rows = getattr(rows, name)
        if not table_rows:
            continue
        if connection.dialect.name == "postgresql":
            _copy(connection, model.__table__, table_rows)
        else:
            _executemany(connection, model.__table__, table_rows)


def _executemany(connection, table: sa.Table, table_rows: list[dict]) -> None:
    """Core's own bind processors (dates, ``UTCDateTime``) without its per-row bookkeeping."""
    dialect = connection.dialect
    columns = list(table_rows[0])
    processors = [(i, processor) for i, column in enumerate(columns)
                  if (processor := table.c[column].type.dialect_impl(dialect).bind_processor(dialect))]
    values = []
    for row in table_rows:
        value = list(row.values())
        for i, processor in processors:
            value[i] = processor(value[i])
        values.append(tuple(value))
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for start in range(0, len(values), INSERT_BATCH):
        connection.exec_driver_sql(statement, values[start:start + INSERT_BATCH])


def _copy(connection, table: sa.Table, table_rows: list[dict]) -> None:
    columns = list(table_rows[0])
    # the models store times as naive UTC (``UTCDateTime``); the generated times are UTC already
    times = [i for i, column in enumerate(columns) if isinstance(table.c[column].type, UTCDateTime)]
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in table_rows:
            values = list(row.values())
            for i in times:
                if values[i] is not None:
                    values[i] = values[i].replace(tzinfo=None)
            copy.write_row(values)


def finish(session: Session, ids: Ids) -> None:
    """Move PostgreSQL's sequences and the case-number counter past the loaded rows."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for name, _model in Rows.TABLES:
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {name}))"
            )
    connection.execute(sa.insert(Counter.__table__), [dict(name="case", value=ids.last.get("cases", 0))])


def check(session: Session, client: Client) -> None:
    """Refuse to time a history whose lots disagree with their entries."""
    sums = dict(session.execute(
        sa.select(Entry.lot_id, sa.func.sum(Entry.quantity))
        .where(Entry.client_id == client.id, Entry.lot_id.is_not(None))
        .group_by(Entry.lot_id)
    ).all())
    lots = session.execute(sa.select(Lot.id, Lot.remaining).where(Lot.client_id == client.id)).all()
    wrong = [(lot_id, remaining, sums.get(lot_id)) for lot_id, remaining in lots
             if sums.get(lot_id) != remaining]
    if wrong:
        raise SystemExit(f"bench: generated history is inconsistent (lot, remaining, sum): {wrong[:5]}")


def count(session: Session, model, client: Client) -> int:
    """How many rows of ``model`` belong to ``client``."""
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(model.client_id == client.id))

