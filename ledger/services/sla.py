"""Service levels: support plans, case status changes, due times and the monthly SLA report."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, bindparam, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from .. import billing
from ..businesstime import (
    CASE_STATUSES,
    RESOLUTIONS,
    Calendar,
    Target,
    Window,
    case_transition,
    clock_start,
    due_time,
    paused_intervals,
    target_state,
    weekly_hours,
)
from ..errors import N_, ValidationError
from ..models import (
    SEVERITIES,
    Case,
    CaseStatusChange,
    Client,
    SupportPlan,
    SupportPlanClosure,
    SupportPlanHours,
    SupportPlanTarget,
    SupportPlanVersion,
    User,
    utcnow,
)

DEFAULT_PLAN = "standard"
SEED_EFFECTIVE_FROM = date(2000, 1, 1)


@dataclass(frozen=True)
class PlanTerms:
    """What a plan version promises, as values: its calendar and per-severity targets."""

    code: str
    name: str
    version: int
    effective_from: date
    calendar: Calendar
    clocks_start_in_business_hours: bool
    every_hour_for_critical: bool
    #: severity → (respond, resolve); None where the plan sets no target
    targets: Mapping[str, tuple[Target | None, Target | None]]

    def calendar_for(self, severity: str) -> Calendar:
        """The calendar a case of ``severity`` is timed on."""
        if severity == "critical" and self.every_hour_for_critical:
            return self.calendar.around_the_clock()
        return self.calendar


_WORKATO_CALENDAR = {"time_zone": "America/Los_Angeles", "hours": weekly_hours("mon-fri", "08:00", "17:00"),
                     "holiday_country": "US", "clocks_start_in_business_hours": True}
#: the seed plans, from the vendors' support policies (editable data once seeded)
SEED_PLANS: tuple[dict, ...] = (
    {"code": "standard", "name": "Standard (Workzoom)", "time_zone": "America/Toronto",
     "hours": weekly_hours("mon-fri", "08:00", "18:00"), "holiday_country": "CA", "holiday_subdivision": "ON",
     "targets": {"critical": (Target(4, "hours"), Target(24, "hours")),
                 "major": (Target(1, "business_days"), Target(3, "business_days")),
                 "moderate": (Target(2, "business_days"), Target(10, "business_days")),
                 "minor": (Target(3, "business_days"), Target(20, "business_days"))}},
    dict(code="premier", name="Premier (Workato)", **_WORKATO_CALENDAR,
         targets={"critical": (Target(24, "hours"), Target(72, "hours")),
                  "major": (Target(24, "hours"), Target(120, "hours")),
                  "moderate": (Target(24, "hours"), None),
                  "minor": (Target(48, "hours"), None)}),
    dict(code="professional", name="Professional (Workato)", **_WORKATO_CALENDAR,
         targets={"critical": (Target(8, "hours"), Target(48, "hours")),
                  "major": (Target(24, "hours"), Target(72, "hours")),
                  "moderate": (Target(24, "hours"), Target(168, "hours")),
                  "minor": (Target(48, "hours"), None)}),
    {"code": "around_the_clock", "name": "Around the clock (Zenput)", "time_zone": "America/Chicago",
     "hours": weekly_hours("mon-fri", "00:00", "24:00"), "holiday_country": "US",
     "every_hour_for_critical": True,
     "targets": {"critical": (Target(2, "hours"), None),
                 "major": (Target(4, "business_hours"), None),
                 "moderate": (Target(3, "business_days"), None),
                 "minor": (Target(3, "business_days"), None)}},
)


# --- plans ------------------------------------------------------------------------------------

def seed_support_plans(session: Session) -> list[SupportPlan]:
    """Create the seed plans that do not exist yet; safe to run again. Returns those created."""
    existing = set(session.scalars(select(SupportPlan.code)))
    created = [add_plan_version(session, effective_from=SEED_EFFECTIVE_FROM, **seed)
               for seed in SEED_PLANS if seed["code"] not in existing]
    return [version.plan for version in created]


def add_plan_version(
    session: Session, code: str, name: str, *, time_zone: str, hours: Iterable[Window],
    targets: Mapping[str, tuple[Target | None, Target | None]], effective_from: date,
    holiday_country: str | None = None, holiday_subdivision: str | None = None,
    closures: Iterable[date] = (), clocks_start_in_business_hours: bool = False,
    every_hour_for_critical: bool = False,
) -> SupportPlanVersion:
    """Create plan ``code`` or its next version, in force from ``effective_from``; validated first."""
    if not code or len(code) > 40 or not code.replace("_", "").isalnum() or code != code.lower():
        raise ValidationError(N_("a plan code is lower-case letters, digits and _"), "code")
    if not name.strip():
        raise ValidationError(N_("a plan needs a name"), "name")
    calendar = Calendar(time_zone, tuple(hours), holiday_country or None, holiday_subdivision or None,
                        frozenset(closures))
    _check_targets(targets)
    plan = session.scalar(select(SupportPlan).where(SupportPlan.code == code).with_for_update())
    if plan is None:
        plan = SupportPlan(code=code, name=name.strip())
        session.add(plan)
        session.flush()
    latest, number = session.execute(
        select(func.max(SupportPlanVersion.effective_from), func.max(SupportPlanVersion.version))
        .where(SupportPlanVersion.plan_id == plan.id)).one()
    if latest is not None and effective_from <= latest:
        raise ValidationError(N_("a new version takes effect after %(day)s"), "effective_from",
                              day=latest.isoformat())
    plan.name = name.strip()
    version = SupportPlanVersion(
        plan=plan, version=(number or 0) + 1, effective_from=effective_from, time_zone=calendar.time_zone,
        holiday_country=calendar.holiday_country, holiday_subdivision=calendar.holiday_subdivision,
        clocks_start_in_business_hours=clocks_start_in_business_hours,
        every_hour_for_critical=every_hour_for_critical,
        hours=[SupportPlanHours(weekday=w.weekday, opens_minute=w.opens, closes_minute=w.closes)
               for w in calendar.windows],
        closures=[SupportPlanClosure(day=day) for day in sorted(calendar.closures)],
        targets=[SupportPlanTarget(severity=severity, **_target_columns(*targets.get(severity, (None, None))))
                 for severity in SEVERITIES],
    )
    session.add(version)
    session.flush()
    return version


def _check_targets(targets: Mapping[str, tuple[Target | None, Target | None]]) -> None:
    for severity, pair in targets.items():
        if severity not in SEVERITIES:
            raise ValidationError(N_("severity is one of %(choices)s"), f"targets.{severity}",
                                  choices=", ".join(SEVERITIES))
        for kind, target in zip(("respond", "resolve"), pair):
            if target is not None and not isinstance(target, Target):
                raise ValidationError(N_("a target is an amount and a unit"), f"targets.{severity}.{kind}")


def _target_columns(respond: Target | None, resolve: Target | None) -> dict:
    return {"respond_amount": respond and respond.amount, "respond_unit": respond and respond.unit,
            "resolve_amount": resolve and resolve.amount, "resolve_unit": resolve and resolve.unit}


def terms_of(version: SupportPlanVersion) -> PlanTerms:
    """A stored plan version as a value."""
    calendar = Calendar(
        version.time_zone,
        tuple(Window(h.weekday, h.opens_minute, h.closes_minute) for h in version.hours),
        version.holiday_country, version.holiday_subdivision,
        frozenset(c.day for c in version.closures))
    targets = {t.severity: (_target(t.respond_amount, t.respond_unit), _target(t.resolve_amount, t.resolve_unit))
               for t in version.targets}
    return PlanTerms(version.plan.code, version.plan.name, version.version, version.effective_from,
                     calendar, version.clocks_start_in_business_hours, version.every_hour_for_critical,
                     {severity: targets.get(severity, (None, None)) for severity in SEVERITIES})


def _target(amount: int | None, unit: str | None) -> Target | None:
    return None if amount is None else Target(amount, unit)


_VERSION_PARTS = (selectinload(SupportPlan.versions).selectinload(SupportPlanVersion.hours),
                  selectinload(SupportPlan.versions).selectinload(SupportPlanVersion.closures),
                  selectinload(SupportPlan.versions).selectinload(SupportPlanVersion.targets))


def find_plan(session: Session, code: str, field: str = "support_plan") -> SupportPlan:
    """The plan with ``code`` and all its versions; a validation error naming ``field`` if none."""
    plan = session.scalar(select(SupportPlan).where(SupportPlan.code == code).options(*_VERSION_PARTS))
    if plan is None:
        raise ValidationError(N_("no support plan %(code)r"), field, code=code)
    return plan


def list_plans(session: Session, on: date | None = None) -> list[PlanTerms]:
    """Every plan as the version in force ``on`` (default today) describes it, by code."""
    plans = session.scalars(select(SupportPlan).options(*_VERSION_PARTS).order_by(SupportPlan.code))
    return [terms_in_force(plan, on or utcnow().date()) for plan in plans]


def terms_in_force(plan: SupportPlan, on: date) -> PlanTerms:
    """The version of ``plan`` in force ``on`` (the first version for earlier days)."""
    current = [v for v in plan.versions if v.effective_from <= on] or plan.versions[:1]
    return terms_of(current[-1])


def plan_of(session: Session, client: Client) -> SupportPlan:
    """The plan ``client`` is on: its own, or the standard plan."""
    if client.support_plan_id is None:
        return find_plan(session, DEFAULT_PLAN)
    return session.scalar(select(SupportPlan).where(SupportPlan.id == client.support_plan_id)
                          .options(*_VERSION_PARTS))


def set_client_plan(session: Session, client: Client, code: str) -> SupportPlan:
    """Put ``client`` on plan ``code``; a validation error naming support_plan if there is none."""
    plan = find_plan(session, code)
    client.support_plan_id = plan.id
    session.flush()
    return plan


# --- case status ------------------------------------------------------------------------------

def change_status(
    session: Session, case: Case, status: str, at: datetime, resolution: str | None = None,
    user: User | None = None,
) -> Case:
    """Move ``case`` to ``status`` at ``at`` as the lifecycle allows, keeping the change in its history."""
    if status not in CASE_STATUSES:
        raise ValidationError(N_("status is one of %(choices)s"), "status", choices=", ".join(CASE_STATUSES[1:]))
    at = _checked_instant(at, "at")
    session.refresh(case, with_for_update=True)
    _check_resolution(status, resolution)
    case_transition(case.status, status)
    if at < case.opened_at:
        raise ValidationError(N_("at is before case %(number)s was opened"), "at", number=case.number)
    if at > utcnow():
        raise ValidationError(N_("at is in the future"), "at")
    last = session.scalar(select(func.max(CaseStatusChange.at)).where(CaseStatusChange.case_id == case.id))
    if last is not None and at < last:
        raise ValidationError(N_("at is before the case's last status change (%(at)s)"), "at", at=last.isoformat())
    if status == "resolved":
        case.resolution, case.resolved_at = resolution, at
    elif case.status == "resolved" and status != "closed":
        case.resolution = case.resolved_at = None
    case.status = status
    session.add(CaseStatusChange(case_id=case.id, status=status, resolution=resolution, at=at,
                                 user_id=user.id if user else None))
    session.flush()
    return case


def _check_resolution(status: str, resolution: str | None) -> None:
    if status == "resolved" and resolution not in RESOLUTIONS:
        raise ValidationError(N_("resolving a case says how: resolution is one of %(choices)s"),
                              "resolution", choices=", ".join(RESOLUTIONS))
    if status != "resolved" and resolution is not None:
        raise ValidationError(N_("a resolution is given only when the case is resolved"), "resolution")


def _checked_instant(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(N_("%(field_name)s is a time with a UTC offset, for example +02:00"), field,
                              field_name=field)
    return value


def mark_responded(session: Session, case: Case, at: datetime) -> None:
    """Record the first technician response (or appointment) on ``case``: the earliest one counts.

    One conditional UPDATE, not the unit of work (it runs on every charge): the database keeps
    the earliest time even if ``case`` was loaded before a parallel response committed.
    """
    if case.responded_at is not None and case.responded_at <= at:
        return  # it only ever moves earlier, so the stored time is as early already
    moved = session.execute(_MARK_RESPONDED, {"case_id": case.id, "at": at}).rowcount
    if moved:
        set_committed_value(case, "responded_at", at)
    else:
        session.expire(case, ["responded_at"])


#: set ``responded_at`` to ``at`` unless an earlier time is stored (parameters ``case_id``, ``at``)
_MARK_RESPONDED = (
    update(Case.__table__)
    .where(Case.__table__.c.id == bindparam("case_id"),
           or_(Case.__table__.c.responded_at.is_(None), Case.__table__.c.responded_at > bindparam("at")))
    .values(responded_at=bindparam("at"))
)


def status_history(session: Session, case: Case) -> list[CaseStatusChange]:
    """The case's status changes, oldest first."""
    return list(session.scalars(select(CaseStatusChange).where(CaseStatusChange.case_id == case.id)
                                .order_by(CaseStatusChange.at, CaseStatusChange.id)))


# --- due times and the report -----------------------------------------------------------------

@dataclass(frozen=True)
class CaseSla:
    """A case's service levels: due times, when it happened, and pending/met/breached/none."""

    plan: str
    respond_by: datetime | None
    resolve_by: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    response: str
    resolution: str


def case_sla(case: Case, plan: PlanTerms, now: datetime,
             history: Sequence[tuple[datetime, str]] | None = None) -> CaseSla:
    """The service levels of ``case`` under ``plan`` at ``now``; ``history`` is ``(at, status)`` in order."""
    if history is None:
        history = [(change.at, change.status) for change in case.status_changes]
    return sla_of(plan, case.severity, case.opened_at, case.responded_at, case.resolved_at, history, now)


def sla_of(
    plan: PlanTerms, severity: str, opened_at: datetime, responded_at: datetime | None,
    resolved_at: datetime | None, history: Sequence[tuple[datetime, str]], now: datetime,
) -> CaseSla:
    """Due times and states from plain values: time waiting on the customer pauses only the resolve clock."""
    calendar = plan.calendar_for(severity)
    respond, resolve = plan.targets[severity]
    start = clock_start(calendar, opened_at, plan.clocks_start_in_business_hours)
    respond_by = due_time(calendar, start, respond) if respond else None
    resolve_by = (due_time(calendar, start, resolve, paused_intervals(history, until=now))
                  if resolve else None)
    return CaseSla(plan.code, respond_by, resolve_by, responded_at, resolved_at,
                   target_state(respond_by, responded_at, now), target_state(resolve_by, resolved_at, now))


def sla_for_case(session: Session, case: Case, now: datetime | None = None) -> CaseSla:
    """The service levels of ``case`` under its client's plan in force when it was opened."""
    plan = plan_of(session, case.client)
    terms = terms_in_force(plan, opening_day(case.opened_at, plan))
    history = [(change.at, change.status) for change in status_history(session, case)]
    return case_sla(case, terms, now or utcnow(), history)


def opening_day(opened_at: datetime, plan: SupportPlan) -> date:
    """The day ``opened_at`` falls on in ``plan``'s zone: the plan's version in force that day applies."""
    zone = ZoneInfo(plan.versions[-1].time_zone) if plan.versions else UTC
    return opened_at.astimezone(zone).date()


@dataclass(frozen=True)
class SeverityLevels:
    """One severity's line of the monthly report; times to respond are clock minutes."""

    severity: str
    cases: int
    response_met: int
    response_breached: int
    response_pending: int
    resolution_met: int
    resolution_breached: int
    resolution_pending: int
    median_minutes_to_respond: float | None


@dataclass(frozen=True)
class SlaReport:
    """A client's service levels for the cases opened in one month of its plan's time zone."""

    period: str
    plan: str
    severities: tuple[SeverityLevels, ...]


_cases = Case.__table__
_changes = CaseStatusChange.__table__
#: the stored type of the time columns, without the UTC decorator: see _cases_with_history
_STORED_TIME = DateTime()


def sla_report(session: Session, client: Client, period: str, now: datetime | None = None) -> SlaReport:
    """Cases per severity opened in ``period`` (YYYY-MM) with targets met and breached, in one query."""
    first, last = billing.month_bounds(period)
    plan = plan_of(session, client)
    zone = ZoneInfo(terms_in_force(plan, first).calendar.time_zone)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(1), time(), zone)
    now = now or utcnow()
    terms_by_day: dict[date, PlanTerms] = {}
    outcomes: dict[str, list[tuple[CaseSla, datetime]]] = {severity: [] for severity in SEVERITIES}
    for severity, opened_at, responded_at, resolved_at, history in _cases_with_history(
            session, client.id, start, end):
        day = opened_at.astimezone(zone).date()
        terms = terms_by_day.get(day) or terms_by_day.setdefault(day, terms_in_force(plan, day))
        sla = sla_of(terms, severity, opened_at, responded_at, resolved_at, history, now)
        outcomes[severity].append((sla, opened_at))
    return SlaReport(period, plan.code, tuple(_levels(s, outcomes[s]) for s in SEVERITIES))


def _cases_with_history(session: Session, client_id: int, start: datetime, end: datetime):
    """Each case opened in [start, end) as plain values with its ``(at, status)`` history: one statement.

    The times are read as stored (naive UTC) and made aware here, once per case rather than
    once per joined row: the decorated column type's conversion of every value was a third
    of a 10,000-case report.
    """
    query = (
        select(_cases.c.id, _cases.c.severity, type_coerce(_cases.c.opened_at, _STORED_TIME),
               type_coerce(_cases.c.responded_at, _STORED_TIME),
               type_coerce(_cases.c.resolved_at, _STORED_TIME),
               type_coerce(_changes.c.at, _STORED_TIME), _changes.c.status)
        .select_from(_cases.outerjoin(_changes, _changes.c.case_id == _cases.c.id))
        .where(_cases.c.client_id == client_id, _cases.c.opened_at >= start, _cases.c.opened_at < end)
        .order_by(_cases.c.id, _changes.c.at, _changes.c.id)
    )
    for _, rows in groupby(session.execute(query).all(), key=itemgetter(0)):
        rows = list(rows)
        _, severity, opened_at, responded_at, resolved_at, *_ = rows[0]
        history = [(at.replace(tzinfo=UTC), status) for *_, at, status in rows if at is not None]
        yield severity, _utc(opened_at), _utc(responded_at), _utc(resolved_at), history


def _utc(stored: datetime | None) -> datetime | None:
    return None if stored is None else stored.replace(tzinfo=UTC)


def _levels(severity: str, outcomes: list[tuple[CaseSla, datetime]]) -> SeverityLevels:
    responses = Counter(sla.response for sla, _ in outcomes)
    resolutions = Counter(sla.resolution for sla, _ in outcomes)
    minutes = [(sla.responded_at - opened).total_seconds() / 60
               for sla, opened in outcomes if sla.responded_at is not None]
    return SeverityLevels(
        severity, len(outcomes), responses["met"], responses["breached"], responses["pending"],
        resolutions["met"], resolutions["breached"], resolutions["pending"],
        statistics.median(minutes) if minutes else None)
