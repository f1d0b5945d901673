"""Service levels through the services, on SQLite and PostgreSQL: plans, status changes, the report."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from ledger.billing import InvalidTransition, RuleViolation
from ledger.businesstime import Target, weekly_hours
from ledger.errors import ValidationError, describe
from ledger.models import CaseStatusChange, Client, SupportPlan
from ledger.services.sla import (
    add_plan_version,
    case_sla,
    change_status,
    list_plans,
    mark_responded,
    plan_of,
    seed_support_plans,
    set_client_plan,
    sla_for_case,
    sla_report,
    terms_in_force,
)
from ledger.services.support import log_technician_response, open_case
from tests.helpers import both_engines

TORONTO = ZoneInfo("America/Toronto")


def toronto(*args) -> datetime:
    return datetime(*args, tzinfo=TORONTO)


@pytest.fixture
def seeded(session, make_client, rate_card):
    seed_support_plans(session)
    session.commit()
    client = session.get(Client, make_client("ACME").id)
    return client


def new_case(session, client, severity="major", opened_at=None):
    return open_case(session, client, "Printer on fire", severity, opened_at or toronto(2026, 3, 6, 16))


@both_engines
def test_seeding_twice_creates_the_four_plans_once(session):
    assert len(seed_support_plans(session)) == 4
    assert seed_support_plans(session) == []
    plans = {terms.code: terms for terms in list_plans(session, date(2026, 3, 1))}
    assert sorted(plans) == ["around_the_clock", "premier", "professional", "standard"]
    assert plans["standard"].targets["major"] == (Target(1, "business_days"), Target(3, "business_days"))
    assert plans["premier"].targets["moderate"] == (Target(24, "hours"), None)
    assert plans["premier"].clocks_start_in_business_hours
    assert plans["around_the_clock"].every_hour_for_critical


@both_engines
def test_a_major_case_opened_friday_at_four_is_due_monday_at_four(session, seeded):
    case = new_case(session, seeded)
    sla = sla_for_case(session, case, now=toronto(2026, 3, 6, 17))
    assert sla.plan == "standard"
    assert sla.respond_by.astimezone(TORONTO) == toronto(2026, 3, 9, 16)
    assert sla.resolve_by.astimezone(TORONTO) == toronto(2026, 3, 11, 16)
    assert (sla.response, sla.resolution) == ("pending", "pending")


@both_engines
def test_the_first_technician_response_meets_the_respond_target(session, seeded):
    case = new_case(session, seeded)
    log_technician_response(session, case, toronto(2026, 3, 9, 15, 59), "Ana")
    log_technician_response(session, case, toronto(2026, 3, 9, 17), "Ben")
    sla = sla_for_case(session, case, now=toronto(2026, 3, 20))
    assert sla.responded_at == toronto(2026, 3, 9, 15, 59)
    assert (sla.response, sla.resolution) == ("met", "breached")


@both_engines
def test_waiting_on_the_customer_moves_resolve_by_but_not_respond_by(session, seeded):
    case = new_case(session, seeded, opened_at=toronto(2026, 3, 2, 9))
    before = sla_for_case(session, case, now=toronto(2026, 3, 2, 10))
    change_status(session, case, "in_progress", toronto(2026, 3, 2, 10))
    change_status(session, case, "waiting_on_customer", toronto(2026, 3, 2, 11))
    change_status(session, case, "in_progress", toronto(2026, 3, 3, 11))  # 10 business hours later
    after = sla_for_case(session, case, now=toronto(2026, 3, 3, 12))
    assert after.respond_by == before.respond_by
    assert after.resolve_by.astimezone(TORONTO) == toronto(2026, 3, 6, 9)
    assert before.resolve_by.astimezone(TORONTO) == toronto(2026, 3, 5, 9)


@both_engines
def test_resolving_records_how_and_when_and_reopening_clears_it(session, seeded):
    case = new_case(session, seeded, opened_at=toronto(2026, 3, 2, 9))
    change_status(session, case, "in_progress", toronto(2026, 3, 2, 10))
    change_status(session, case, "resolved", toronto(2026, 3, 3, 10), resolution="workaround")
    assert (case.status, case.resolution, case.resolved_at) == ("resolved", "workaround", toronto(2026, 3, 3, 10))
    assert sla_for_case(session, case, now=toronto(2026, 3, 20)).resolution == "met"
    change_status(session, case, "in_progress", toronto(2026, 3, 4, 10))
    assert (case.status, case.resolution, case.resolved_at) == ("in_progress", None, None)
    change_status(session, case, "resolved", toronto(2026, 3, 4, 11), resolution="fix")
    change_status(session, case, "closed", toronto(2026, 3, 5, 11))
    history = session.scalars(sa.select(CaseStatusChange.status).where(CaseStatusChange.case_id == case.id)
                              .order_by(CaseStatusChange.id)).all()
    assert history == ["in_progress", "resolved", "in_progress", "resolved", "closed"]
    assert (case.status, case.resolution) == ("closed", "fix")


@both_engines
@pytest.mark.parametrize(("status", "at", "resolution", "field"), [
    ("done", toronto(2026, 3, 6, 17), None, "status"),
    ("in_progress", toronto(2026, 3, 6, 15), None, "at"),
    ("in_progress", datetime.now(UTC) + timedelta(hours=1), None, "at"),
    ("in_progress", datetime(2026, 3, 6, 17), None, "at"),
    ("in_progress", toronto(2026, 3, 6, 17), "fix", "resolution"),
])
def test_bad_status_changes_are_refused_naming_the_field(session, seeded, status, at, resolution, field):
    case = new_case(session, seeded)
    with pytest.raises(ValidationError) as refused:
        change_status(session, case, status, at, resolution=resolution)
    assert refused.value.field == field
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseStatusChange)) == 0
    assert case.status == "open"


@both_engines
def test_a_transition_the_table_forbids_is_a_conflict(session, seeded):
    case = new_case(session, seeded)
    with pytest.raises(InvalidTransition) as refused:
        change_status(session, case, "closed", toronto(2026, 3, 6, 17))
    assert describe(refused.value).status == 409
    change_status(session, case, "in_progress", toronto(2026, 3, 6, 17))
    with pytest.raises(ValidationError) as early:
        change_status(session, case, "waiting_on_customer", toronto(2026, 3, 6, 16, 30))
    assert early.value.field == "at"


@both_engines
def test_resolving_without_saying_how_is_refused(session, seeded):
    case = new_case(session, seeded)
    change_status(session, case, "in_progress", toronto(2026, 3, 6, 17))
    with pytest.raises(ValidationError) as refused:
        change_status(session, case, "resolved", toronto(2026, 3, 6, 18), resolution="magic")
    assert refused.value.field == "resolution"


@both_engines
def test_the_status_history_is_append_only(session, seeded):
    case = new_case(session, seeded)
    change_status(session, case, "in_progress", toronto(2026, 3, 6, 17))
    session.commit()
    with pytest.raises(sa.exc.DatabaseError):
        session.execute(sa.update(CaseStatusChange).values(status="closed"))
        session.flush()
    session.rollback()


@both_engines
@pytest.mark.parametrize(("changes", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"holiday_country": "XX"}, "holiday_country"),
    ({"targets": {"major": (Target(1, "hours"), "soon")}}, "targets.major.resolve"),
    ({"effective_from": date(1999, 1, 1)}, "effective_from"),
])
def test_bad_plans_are_refused_naming_the_field(session, seeded, changes, field):
    values = {"code": "standard", "name": "Standard", "time_zone": "America/Toronto",
              "hours": weekly_hours("mon-fri", "09:00", "17:00"),
              "targets": {"major": (Target(1, "business_days"), None)}, "effective_from": date(2027, 1, 1)}
    values.update(changes)
    with pytest.raises((ValidationError, RuleViolation)) as refused:
        add_plan_version(session, **values)
    assert refused.value.field == field
    assert len(session.scalar(sa.select(SupportPlan).where(SupportPlan.code == "standard")).versions) == 1


@both_engines
def test_a_new_plan_version_holds_cases_opened_from_its_day(session, seeded):
    add_plan_version(session, "standard", "Standard", time_zone="America/Toronto",
                     hours=weekly_hours("mon-fri", "09:00", "17:00"),
                     targets={"major": (Target(2, "business_hours"), None)}, effective_from=date(2026, 4, 1))
    plan = plan_of(session, seeded)
    assert terms_in_force(plan, date(2026, 3, 31)).version == 1
    later = new_case(session, seeded, opened_at=toronto(2026, 4, 1, 16))
    sla = sla_for_case(session, later, now=toronto(2026, 4, 1, 16))
    assert sla.respond_by.astimezone(TORONTO) == toronto(2026, 4, 2, 10)
    assert (sla.resolve_by, sla.resolution) == (None, "none")


@both_engines
def test_premier_clocks_start_when_business_hours_begin(session, seeded):
    set_client_plan(session, seeded, "premier")
    la = ZoneInfo("America/Los_Angeles")
    case = new_case(session, seeded, severity="minor", opened_at=datetime(2026, 3, 6, 20, tzinfo=la))
    sla = sla_for_case(session, case, now=datetime(2026, 3, 7, tzinfo=la))
    assert sla.respond_by.astimezone(la) == datetime(2026, 3, 11, 8, tzinfo=la)  # Monday 08:00 + 48 h
    assert sla.resolution == "none"
    with pytest.raises(ValidationError) as refused:
        set_client_plan(session, seeded, "platinum")
    assert refused.value.field == "support_plan"


@both_engines
def test_the_monthly_report_counts_met_and_breached_per_severity(session, seeded):
    opened = [toronto(2026, 3, 2, 9), toronto(2026, 3, 3, 9), toronto(2026, 3, 31, 20), toronto(2026, 4, 1, 9)]
    cases = [new_case(session, seeded, opened_at=at) for at in opened]
    mark_responded(session, cases[0], toronto(2026, 3, 2, 10))        # met
    mark_responded(session, cases[1], toronto(2026, 3, 5, 9))         # breached
    change_status(session, cases[0], "in_progress", toronto(2026, 3, 2, 10))
    change_status(session, cases[0], "resolved", toronto(2026, 3, 3, 10), resolution="fix")
    new_case(session, seeded, severity="critical", opened_at=toronto(2026, 3, 10, 9))
    report = sla_report(session, seeded, "2026-03", now=toronto(2026, 3, 31, 21))
    lines = {line.severity: line for line in report.severities}
    assert (report.period, report.plan) == ("2026-03", "standard")
    major = lines["major"]
    assert (major.cases, major.response_met, major.response_breached, major.response_pending) == (3, 1, 1, 1)
    assert (major.resolution_met, major.resolution_breached, major.resolution_pending) == (1, 1, 1)
    assert major.median_minutes_to_respond == (60 + 2 * 24 * 60) / 2
    assert (lines["critical"].cases, lines["critical"].response_breached) == (1, 1)
    assert lines["minor"].cases == 0 and lines["minor"].median_minutes_to_respond is None
    assert case_sla(cases[0], terms_in_force(plan_of(session, seeded), date(2026, 3, 2)),
                    toronto(2026, 4, 1)).resolution == "met"


def test_the_report_reads_cases_and_history_in_one_statement(session, seeded):
    for day in range(2, 12):
        case = new_case(session, seeded, opened_at=toronto(2026, 3, day, 9))
        change_status(session, case, "in_progress", toronto(2026, 3, day, 10))
    session.flush()
    plan_of(session, seeded)
    statements = []

    def record(connection, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(session.get_bind(), "before_cursor_execute", record)
    try:
        sla_report(session, seeded, "2026-03", now=toronto(2026, 4, 1))
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", record)
    assert len([s for s in statements if "FROM cases" in s]) == 1
    assert len(statements) <= 6  # the plan, its versions' hours, closures and targets, the cases
