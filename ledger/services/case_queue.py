"""The account manager's queue: open cases across clients, the nearest due time first, marked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..businesstime import Calendar, business_time_between
from ..errors import ValidationError
from ..models import Case, Client, SupportPlan, User, utcnow
from . import access
from .sla import CaseSla, PlanTerms, case_sla, opening_day, plan_of, terms_in_force

#: statuses of a case still waiting for the vendor or the customer (resolved and closed are done)
OPEN_STATUSES = ("open", "in_progress", "waiting_on_customer")
#: a case due within this much business time is marked as due soon
DUE_SOON = timedelta(hours=2)


@dataclass(frozen=True)
class QueueLine:
    """One open case in the queue: its service levels, the next due time and its marks."""

    case: Case
    sla: CaseSla
    time_zone: str
    #: "respond" until the case is responded to, then "resolve"; "" when the plan sets neither
    target: str
    due: datetime | None
    breached: bool
    due_soon: bool
    #: the resolve clock stands still while the case waits on the customer
    paused: bool


def next_due(sla: CaseSla) -> tuple[str, datetime | None]:
    """The target a case is chasing next and its due time: respond_by until responded, else resolve_by."""
    if sla.responded_at is None and sla.respond_by is not None:
        return "respond", sla.respond_by
    if sla.resolved_at is None and sla.resolve_by is not None:
        return "resolve", sla.resolve_by
    return "", None


def queue_line(case: Case, sla: CaseSla, calendar: Calendar, now: datetime) -> QueueLine:
    """Mark a case: breached if a target it still chases (or chased) was missed, due soon within 2 business hours."""
    target, due = next_due(sla)
    breached = "breached" in (sla.response, sla.resolution)
    paused = target == "resolve" and case.status == "waiting_on_customer"
    due_soon = (due is not None and not paused and now <= due
                and business_time_between(calendar, now, due) <= DUE_SOON)
    return QueueLine(case, sla, calendar.time_zone, target, due, breached, due_soon and not breached, paused)


def open_queue(session: Session, user: User, now: datetime | None = None) -> list[QueueLine]:
    """The open cases of every client ``user`` may see, nearest due time first (none last)."""
    now = now or utcnow()
    visible = access.visible(Client, user).with_only_columns(Client.id)
    cases = session.scalars(
        select(Case).where(Case.status.in_(OPEN_STATUSES), Case.client_id.in_(visible))
        .options(selectinload(Case.client), selectinload(Case.status_changes))
    ).all()
    plans: dict[int, SupportPlan | None] = {}
    lines = []
    for case in cases:
        terms = _terms(session, case, plans)
        if terms is None:
            continue  # no plan seeded at all: no due times to sort by
        sla = case_sla(case, terms, now)
        lines.append(queue_line(case, sla, terms.calendar_for(case.severity), now))
    return sorted(lines, key=lambda line: (line.due is None, line.due or now, line.case.opened_at, line.case.id))


def levels_of(session: Session, cases: list[Case], now: datetime | None = None) -> dict[int, tuple[CaseSla, str]]:
    """Each case's service levels and its plan's time zone, by case id (none where no plan is seeded)."""
    now = now or utcnow()
    plans: dict[int, SupportPlan | None] = {}
    found = {}
    for case in cases:
        terms = _terms(session, case, plans)
        if terms is not None:
            found[case.id] = (case_sla(case, terms, now), terms.calendar.time_zone)
    return found


def _terms(session: Session, case: Case, plans: dict[int, SupportPlan | None]) -> PlanTerms | None:
    key = case.client.support_plan_id or 0
    if key not in plans:
        try:
            plans[key] = plan_of(session, case.client)
        except ValidationError:
            plans[key] = None
    plan = plans[key]
    return None if plan is None else terms_in_force(plan, opening_day(case.opened_at, plan))
