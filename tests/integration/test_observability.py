"""Request ids: echoed or made, stamped on every log line of the request as JSON, carried into jobs."""

from __future__ import annotations

import json
import logging
import re

import pytest

from ledger import observability
from ledger.observability import current_request_id, job_context, restored_context

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_a_request_without_an_id_gets_a_new_one_in_the_response(app):
    response = app.test_client().get("/healthz")
    assert NEW_ID.fullmatch(response.headers["X-Request-Id"])


def test_two_requests_get_different_ids(app):
    client = app.test_client()
    assert client.get("/healthz").headers["X-Request-Id"] != client.get("/healthz").headers["X-Request-Id"]


def test_a_sane_incoming_id_is_echoed_as_it_came(app):
    response = app.test_client().get("/healthz", headers={"X-Request-Id": "lb-7f3a.2026_12-02"})
    assert response.headers["X-Request-Id"] == "lb-7f3a.2026_12-02"


@pytest.mark.parametrize("bad", ["", "a" * 129, "two words", "semi;colon", "quote\"d", "caf\u00e9", "<script>"])
def test_an_incoming_id_too_long_or_with_unsafe_characters_is_replaced(app, bad):
    response = app.test_client().get("/healthz", headers={"X-Request-Id": bad})
    assert NEW_ID.fullmatch(response.headers["X-Request-Id"])


def test_an_api_error_still_echoes_the_id(app):
    response = app.test_client().get("/api/v1/clients/NOPE", headers={"X-Request-Id": "req-401"})
    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == "req-401"


def json_line(record: logging.LogRecord) -> dict:
    """The record as the served app writes it: one JSON object."""
    return json.loads(observability.json_formatter().format(record))


def test_the_request_line_is_json_naming_id_route_status_duration_and_user(app, api, acme, caplog):
    api.post("/clients/ACME/bundles", {"quantity": 5, "purchased_on": "2026-01-05"})
    number = api.post("/clients/ACME/cases", {"subject": "VPN down", "severity": "major",
                                               "opened_at": "2026-01-10T08:00:00+00:00"}).get_json()["number"]
    caplog.set_level(logging.INFO, logger="ledger.requests")
    response = api.post(f"/cases/{number}/responses", {"responded_at": "2026-01-10T09:00:00+00:00",
                                                         "technician": "Tess"},
                        headers={"X-Request-Id": "charge-1"})
    assert response.status_code == 201
    [record] = [r for r in caplog.records if r.name == "ledger.requests"]
    line = json_line(record)
    assert line["request_id"] == "charge-1"
    assert line["method"] == "POST" and line["path"] == f"/api/v1/cases/{number}/responses"
    assert line["route"] == "/api/v1/cases/<number>/responses"
    assert line["status"] == 201 and line["duration_ms"] > 0
    assert isinstance(line["user_id"], int)
    assert line["level"] == "INFO" and line["logger"] == "ledger.requests" and line["time"]


def test_a_log_line_written_during_the_request_carries_its_id(app, caplog):
    seen = []

    @app.get("/_probe")
    def probe():
        logging.getLogger("ledger.probe").warning("inside the view")
        seen.append(current_request_id())
        return "ok"

    app.test_client().get("/_probe", headers={"X-Request-Id": "probe-9"})
    [record] = [r for r in caplog.records if r.name == "ledger.probe"]
    assert json_line(record)["request_id"] == "probe-9" == seen[0]
    assert current_request_id() is None  # nothing leaks past the request


def test_a_job_runs_under_the_id_of_the_request_that_queued_it(app, caplog):
    stored = {}

    @app.get("/_enqueue")
    def enqueue():
        stored.update(json.loads(json.dumps(job_context())))  # what a queue keeps: JSON
        return "queued"

    app.test_client().get("/_enqueue", headers={"X-Request-Id": "batch-2026-03"})
    caplog.set_level(logging.INFO, logger="ledger.jobs")
    with restored_context(stored) as request_id:
        logging.getLogger("ledger.jobs").info("rendering an invoice")
    assert request_id == "batch-2026-03"
    [record] = [r for r in caplog.records if r.name == "ledger.jobs"]
    assert json_line(record)["request_id"] == "batch-2026-03"
    assert current_request_id() is None


@pytest.mark.parametrize("stored", [None, {}, {"request_id": None}, {"request_id": "bad id\n"}])
def test_a_job_queued_outside_a_request_or_with_a_bad_id_gets_a_new_one(stored):
    with restored_context(stored) as request_id:
        assert NEW_ID.fullmatch(request_id) and current_request_id() == request_id
    assert current_request_id() is None
