"""The service-level demo: the demo clients on different plans, each with targets met and missed."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ledger.demo import load_demo
from ledger.demo_sla import CASES, PLANS
from ledger.models import Case, CaseStatusChange, Client, utcnow
from ledger.services.sla import plan_of, sla_for_case, sla_report

#: loads the whole demo (months of cases for three clients): left out of the fast loop
pytestmark = pytest.mark.slow


def _months(first, last):
    """Every YYYY-MM from the month of ``first`` to that of ``last``."""
    month = first.replace(day=1)
    while month <= last:
        yield month.strftime("%Y-%m")
        month = (month + timedelta(days=32)).replace(day=1)


def test_each_demo_client_has_targets_met_and_breached_on_its_own_plan(session):
    today = utcnow().date()
    load_demo(session, today)
    clients = {client.code: client for client in session.scalars(select(Client))}
    session.commit()
    # the service-level stories are the demo's only cases that moved along the lifecycle
    cases = session.scalars(select(Case).where(Case.id.in_(select(CaseStatusChange.case_id)))
                            .order_by(Case.id)).all()

    assert {code: plan_of(session, clients[code]).code for code in PLANS} == PLANS
    for code, client in clients.items():
        lines = [line for period in _months(today - timedelta(days=CASES[0].days_ago), today)
                 for line in sla_report(session, client, period).severities]
        responses = {state: sum(getattr(line, f"response_{state}") for line in lines)
                     for state in ("met", "breached")}
        assert responses["met"] >= 1 and responses["breached"] >= 1, code
        if PLANS[code] != "around_the_clock":  # that plan sets no resolve targets
            resolutions = {state: sum(getattr(line, f"resolution_{state}") for line in lines)
                           for state in ("met", "breached")}
            assert resolutions["met"] >= 1 and resolutions["breached"] >= 1, code
    assert {case.status for case in cases} == {"resolved", "waiting_on_customer", "in_progress"}
    reopened = session.scalars(select(CaseStatusChange.status).where(
        CaseStatusChange.case_id == cases[4].id).order_by(CaseStatusChange.at)).all()
    assert reopened == ["in_progress", "resolved", "in_progress"]
    acme = [case for case in cases if case.client_id == clients["ACME"].id]
    assert [(sla_for_case(session, case).response, sla_for_case(session, case).resolution)
            for case in acme[:3]] == [("met", "met"), ("breached", "breached"), ("met", "met")]
