"""Service-level demo data: the demo clients on different plans, with cases that kept and missed targets.

Every case goes through the services a support desk uses: opened, answered by a technician
(the first response), moved along the case lifecycle. Each "in time" or "late" is decided
against the due time the plan itself gives at that moment, so the stories hold on any plan,
in any week, whatever the holidays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .models import Case, Client, utcnow
from .services import balances, bundles, sla, support

#: which plan each demo client is on
PLANS = {"ACME": "standard", "BRAU": "premier", "NORD": "around_the_clock"}
TECHNICIANS = ("Priya Raman", "Jonas Weber", "Amélie Tremblay")
#: a client on the block policy buys this many incidents when fewer remain than the cases need
TOP_UP = 10
#: left over after the cases, so the demo's block-policy client can still take a case
RESERVE = 6


@dataclass(frozen=True)
class DemoCase:
    """One case's story: when it opens (days before today, local hour), its first response and what follows."""

    days_ago: int
    hour: int
    severity: str
    subject: str
    #: in_time or late (after the respond due time)
    response: str
    #: resolved_in_time, resolved_late, waiting (on the customer) or reopened
    then: str


CASES = (
    DemoCase(55, 10, "major", "Month-end report times out", "in_time", "resolved_in_time"),
    DemoCase(48, 15, "critical", "ERP login error 401 for all users", "late", "resolved_late"),
    DemoCase(40, 9, "moderate", "Invoice export missing rows", "in_time", "resolved_in_time"),
    DemoCase(33, 11, "minor", "Label printer misaligned", "late", "waiting"),
    DemoCase(24, 14, "moderate", "Backup job failed overnight", "in_time", "reopened"),
    DemoCase(13, 10, "major", "Warehouse scanner offline", "in_time", "waiting"),
)


def load_sla_demo(session: Session, clients_by_code: Mapping[str, Client], today: date) -> list[Case]:
    """Put the demo clients on their plans and give each the cases of :data:`CASES`; returns the cases."""
    sla.seed_support_plans(session)
    cases = []
    for code, plan_code in PLANS.items():
        client = clients_by_code[code]
        plan = sla.set_client_plan(session, client, plan_code)
        first_day = today - timedelta(days=CASES[0].days_ago)
        zone = ZoneInfo(sla.terms_in_force(plan, first_day).calendar.time_zone)
        _top_up(session, client, first_day)
        for number, story in enumerate(CASES):
            opened = datetime.combine(today - timedelta(days=story.days_ago), time(story.hour), zone)
            cases.append(_play(session, client, story, opened, TECHNICIANS[number % len(TECHNICIANS)]))
    return cases


def _top_up(session: Session, client: Client, day: date) -> None:
    """A client on the block policy refuses charges it cannot cover: it buys a few incidents first."""
    if client.overage_policy != "block":
        return
    if balances.balance(session, client, day).available < len(CASES) + RESERVE:
        bundles.buy_bundle(session, client, TOP_UP, day)


def _play(session: Session, client: Client, story: DemoCase, opened: datetime, technician: str) -> Case:
    """Open the case and act out its story, each step timed against the plan's due times."""
    case = support.open_case(session, client, story.subject, story.severity, opened)
    respond_by = sla.sla_for_case(session, case, now=opened).respond_by
    if story.response == "in_time":
        responded = opened + min(timedelta(minutes=25), (respond_by - opened) / 2)
    else:
        responded = respond_by + timedelta(hours=2)
    support.log_technician_response(session, case, _past(responded), technician, "Remote session; collected logs.")
    sla.change_status(session, case, "in_progress", responded)
    return _then(session, case, story.then, responded)


def _then(session: Session, case: Case, then: str, since: datetime) -> Case:
    if then == "waiting":
        sla.change_status(session, case, "waiting_on_customer", _past(since + timedelta(hours=2)))
        return case
    if then == "reopened":
        resolved = since + timedelta(hours=3)
        sla.change_status(session, case, "resolved", _past(resolved), resolution="workaround")
        sla.change_status(session, case, "in_progress", _past(resolved + timedelta(days=2)))
        return case
    resolve_by = sla.sla_for_case(session, case, now=since).resolve_by
    if then == "resolved_in_time":
        resolved = since + (resolve_by - since) / 2 if resolve_by else since + timedelta(days=1)
        resolution = "fix"
    else:
        resolved = resolve_by + timedelta(hours=3) if resolve_by else since + timedelta(days=3)
        resolution = "workaround"
    sla.change_status(session, case, "resolved", _past(resolved), resolution=resolution)
    return case


def _past(instant: datetime) -> datetime:
    """``instant``, which the stories keep in the past; a clear error if today was set too early."""
    if instant > utcnow():
        raise ValueError(f"demo case step at {instant.isoformat()} is in the future: load the demo with "
                         "today's date")
    return instant
