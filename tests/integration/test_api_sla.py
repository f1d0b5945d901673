"""Service levels through the JSON API: plans, case due times, status changes and the monthly report."""

from __future__ import annotations

from datetime import datetime

from tests.helpers import add_client, built_once

#: Friday 9 January 2026, 16:00 in Toronto (EST, UTC-5)
FRIDAY_4PM_TORONTO = "2026-01-09T16:00:00-05:00"
#: Monday 12 January 2026, 09:00 in Toronto
MONDAY_9AM_TORONTO = "2026-01-12T09:00:00-05:00"


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@built_once(after=("rate_card", "support_plans"))
def acme(app, after):
    """ACME, on the standard plan that `ledger init` seeds with the others."""
    add_client(app, "ACME")
    return "ACME"


def open_case(api, opened_at: str, severity: str = "major", code: str = "ACME") -> dict:
    response = api.post(f"/clients/{code}/cases",
                        {"subject": "ERP down", "severity": severity, "opened_at": opened_at})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def change(api, number: str, status: str, at: str, **extra):
    return api.post(f"/cases/{number}/status", {"status": status, "at": at, **extra})


def respond(api, number: str, at: str) -> None:
    response = api.post(f"/cases/{number}/responses", {"responded_at": at, "technician": "Tess"})
    assert response.status_code == 201, response.get_json()


def test_a_major_case_opened_friday_4pm_in_toronto_is_due_a_response_monday_4pm(api, acme):
    case = open_case(api, FRIDAY_4PM_TORONTO)

    assert case["status"] == "open"
    assert case["sla"]["plan"] == "standard"
    assert moment(case["sla"]["respond_by"]) == moment("2026-01-12T16:00:00-05:00")
    assert case["sla"]["responded_at"] is None and case["sla"]["resolved_at"] is None
    assert case["sla"]["response"] == "breached"  # nobody answered, and that Monday has passed
    assert api.get("/clients/ACME").get_json()["support_plan"] == "standard"


def test_the_support_plans_list_the_four_seed_plans_with_their_targets(api, acme):
    plans = {plan["code"]: plan for plan in api.get("/support-plans").get_json()["items"]}

    assert set(plans) == {"standard", "premier", "professional", "around_the_clock"}
    assert plans["standard"]["time_zone"] == "America/Toronto"
    major = next(t for t in plans["standard"]["targets"] if t["severity"] == "major")
    assert major == {"severity": "major", "respond": {"amount": 1, "unit": "business_days"},
                     "resolve": {"amount": 3, "unit": "business_days"}}
    minor = next(t for t in plans["premier"]["targets"] if t["severity"] == "minor")
    assert minor["resolve"] is None


def test_waiting_on_the_customer_moves_resolve_by_by_the_paused_business_time_and_not_respond_by(api, acme):
    number = open_case(api, MONDAY_9AM_TORONTO)["number"]
    before = change(api, number, "in_progress", "2026-01-12T10:00:00-05:00").get_json()["sla"]
    assert change(api, number, "waiting_on_customer", "2026-01-12T11:00:00-05:00").status_code == 200
    after = change(api, number, "in_progress", "2026-01-12T13:00:00-05:00").get_json()

    assert after["status"] == "in_progress"
    assert moment(before["respond_by"]) == moment(after["sla"]["respond_by"]) == moment("2026-01-13T09:00:00-05:00")
    assert moment(before["resolve_by"]) == moment("2026-01-15T09:00:00-05:00")
    assert moment(after["sla"]["resolve_by"]) == moment("2026-01-15T11:00:00-05:00")


def test_the_sla_report_counts_targets_met_and_breached_per_severity(api, acme):
    kept = open_case(api, MONDAY_9AM_TORONTO)["number"]
    respond(api, kept, "2026-01-12T10:00:00-05:00")
    assert change(api, kept, "in_progress", "2026-01-12T10:00:00-05:00").status_code == 200
    resolved = change(api, kept, "resolved", "2026-01-13T12:00:00-05:00", resolution="fix").get_json()
    missed = open_case(api, MONDAY_9AM_TORONTO)["number"]
    respond(api, missed, "2026-01-20T10:00:00-05:00")

    assert resolved["status"] == "resolved"
    assert (resolved["sla"]["response"], resolved["sla"]["resolution"]) == ("met", "met")
    report = api.get("/clients/ACME/sla-report?period=2026-01").get_json()
    assert report["period"] == "2026-01" and report["plan"] == "standard"
    major = next(line for line in report["severities"] if line["severity"] == "major")
    assert major == {"severity": "major", "cases": 2, "response_met": 1, "response_breached": 1,
                     "resolution_met": 1, "resolution_breached": 1}
    empty = api.get("/clients/ACME/sla-report?period=2025-12").get_json()
    assert all(line["cases"] == 0 for line in empty["severities"])


def test_a_client_user_opens_and_reads_only_its_own_cases_and_report(api, acme, make_client, make_token):
    make_client("BETA")
    case = open_case(api, MONDAY_9AM_TORONTO)["number"]
    beta = api.as_(make_token("client", client="BETA"))
    own = api.as_(make_token("client", client="ACME"))

    assert own.get("/clients/ACME/sla-report?period=2026-01").status_code == 200
    assert open_case(own, FRIDAY_4PM_TORONTO)["client"] == "ACME"
    assert beta.get("/clients/ACME/sla-report?period=2026-01").status_code == 404
    assert beta.get(f"/cases/{case}").status_code == 404
    opened = beta.post("/clients/ACME/cases", {"subject": "x", "severity": "major",
                                               "opened_at": MONDAY_9AM_TORONTO})
    assert opened.status_code == 404
    assert beta.post(f"/cases/{case}/status", {"status": "in_progress", "at": MONDAY_9AM_TORONTO}
                     ).status_code in (403, 404)


def field_of(response) -> str:
    return response.get_json()["error"]["field"]


def test_bad_input_is_refused_naming_the_field_and_a_forbidden_transition_is_a_conflict(api, acme):
    case = open_case(api, MONDAY_9AM_TORONTO)["number"]
    unknown_severity = api.post("/clients/ACME/cases", {"subject": "x", "severity": "urgent",
                                                        "opened_at": MONDAY_9AM_TORONTO})
    unknown_status = change(api, case, "done", "2026-01-12T10:00:00-05:00")
    before_opening = change(api, case, "in_progress", "2026-01-12T08:00:00-05:00")
    in_future = change(api, case, "in_progress", "2099-01-12T10:00:00-05:00")
    unknown_resolution = change(api, case, "resolved", "2026-01-12T10:00:00-05:00", resolution="magic")
    forbidden = change(api, case, "closed", "2026-01-12T10:00:00-05:00")
    unknown_plan = api.post("/clients", {"code": "NEW", "name": "New", "currency": "USD", "locale": "en_US",
                                         "tax_rate": "0", "term_start": "2026-01-01", "support_plan": "gold"})

    assert (unknown_severity.status_code, field_of(unknown_severity)) == (422, "severity")
    assert (unknown_status.status_code, field_of(unknown_status)) == (422, "status")
    assert (before_opening.status_code, field_of(before_opening)) == (422, "at")
    assert (in_future.status_code, field_of(in_future)) == (422, "at")
    assert (unknown_resolution.status_code, field_of(unknown_resolution)) == (422, "resolution")
    assert forbidden.status_code == 409
    assert (unknown_plan.status_code, field_of(unknown_plan)) == (422, "support_plan")
    assert "gold" in unknown_plan.get_json()["error"]["message"]
    assert api.get(f"/cases/{case}").get_json()["status"] == "open"
    assert api.get("/clients/NEW").status_code == 404
