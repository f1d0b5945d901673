"""The usage statement of a month: opening and closing balance, every charge, rollover and expiry.

It is computed when an invoice is issued and kept with it, so the PDF (and any
re-rendering) shows the ledger as it stood then.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..errors import NotFound
from ..models import Activity, Client, Entry, SupportPlan
from .balances import balance
from .history import describe
from .ratecards import card_in_force
from .sla import sla_report

#: lots expiring within this many days after the period are listed as expiring soon
EXPIRING_SOON_DAYS = 90
#: months in the usage chart, the period included
CHART_MONTHS = 12
USAGE_KINDS = billing.USAGE_KINDS
MOVEMENT_KINDS = ("purchase", "rollover_in", "rollover_out", "expiry")


def usage_statement(session: Session, client: Client, period: billing.Period | str) -> dict:
    """The statement of ``period`` as plain JSON-ready data."""
    first, last = billing.month_bounds(period)
    closing = balance(session, client, last)
    return {
        "period": str(period),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "opening": balance(session, client, first - timedelta(days=1)).available,
        "closing": closing.available,
        "overage": closing.overage,
        "charges": _charges(session, client, first, last),
        "movements": _movements(session, client, first, last),
        "expiring": [
            {"expires_on": lot.expires_on.isoformat(), "remaining": lot.remaining}
            for lot in closing.lots
            if lot.remaining and lot.expires_on and lot.expires_on <= last + timedelta(EXPIRING_SOON_DAYS)
        ],
        "hours": _hours(session, client, first, last, closing.minutes),
        "monthly": monthly_usage(session, client, last),
        "service_levels": service_levels(session, client, str(period)),
    }


def service_levels(session: Session, client: Client, period: str) -> dict | None:
    """The month's SLA report as JSON-ready data; None before any support plan is seeded."""
    if client.support_plan_id is None and session.scalar(select(SupportPlan.id).limit(1)) is None:
        return None
    report = sla_report(session, client, period)
    return {"plan": report.plan, "severities": [
        {"severity": s.severity, "cases": s.cases, "response_met": s.response_met,
         "response_breached": s.response_breached, "resolution_met": s.resolution_met,
         "resolution_breached": s.resolution_breached,
         "median_minutes_to_respond": None if s.median_minutes_to_respond is None
         else round(s.median_minutes_to_respond)}
        for s in report.severities]}


def _entries(session: Session, client: Client, first: date, last: date, unit: str, kinds) -> list[Entry]:
    return list(session.scalars(
        select(Entry).where(Entry.client_id == client.id, Entry.unit == unit, Entry.kind.in_(kinds),
                            Entry.effective_on >= first, Entry.effective_on <= last)
        .order_by(Entry.effective_on, Entry.id)))


def _charges(session: Session, client: Client, first: date, last: date) -> list[dict]:
    """One line per activity that moved incidents this month, with the case and what happened."""
    net: dict[int, int] = {}
    for entry in _entries(session, client, first, last, "incident", USAGE_KINDS):
        if entry.activity_id is not None:
            net[entry.activity_id] = net.get(entry.activity_id, 0) - entry.quantity
    activities = session.scalars(
        select(Activity).where(Activity.id.in_(net)).order_by(Activity.occurred_at, Activity.id)
        .options(selectinload(Activity.case), selectinload(Activity.waiver))
    ) if net else []
    return [{"date": activity.effective_on.isoformat(), "case": activity.case.number if activity.case else "",
             "subject": activity.case.subject if activity.case else "", "what": describe(activity),
             "incidents": net[activity.id]} for activity in activities]


def _movements(session: Session, client: Client, first: date, last: date) -> list[dict]:
    return [
        {"date": e.effective_on.isoformat(), "kind": e.kind, "incidents": e.quantity, "memo": e.memo}
        for e in _entries(session, client, first, last, "incident", MOVEMENT_KINDS)
    ]


def _hours(session: Session, client: Client, first: date, last: date, available: dict[str, int]) -> list[dict]:
    used: dict[str, int] = {}
    for entry in _entries(session, client, first, last, "minute", USAGE_KINDS):
        used[entry.role] = used.get(entry.role, 0) - entry.quantity
    roles = sorted(set(available) | set(used))
    titles = _role_titles(session, client, last)
    return [
        {"role": role, "title": titles.get(role, role), "used_minutes": used.get(role, 0),
         "available_minutes": available.get(role, 0)}
        for role in roles
    ]


def _role_titles(session: Session, client: Client, on: date) -> dict[str, str]:
    try:
        card = card_in_force(session, client.currency, on)
    except NotFound:
        return {}
    return {role.code: role.title for role in card.roles}


def monthly_usage(session: Session, client: Client, last: date, months: int = CHART_MONTHS) -> list[dict]:
    """Incidents used in each of the ``months`` months ending with the one containing ``last``."""
    periods = [billing.Period.containing(last)]
    while len(periods) < months:
        periods.insert(0, periods[0].previous())
    labels = [str(period) for period in periods]
    first = periods[0].start
    totals = dict.fromkeys(labels, 0)
    rows = session.execute(select(Entry.effective_on, Entry.quantity).where(
        Entry.client_id == client.id, Entry.unit == "incident", Entry.kind.in_(USAGE_KINDS),
        Entry.effective_on >= first, Entry.effective_on <= last))
    for day, quantity in rows:
        totals[day.strftime("%Y-%m")] -= quantity
    return [{"month": label, "incidents": totals[label]} for label in labels]

