"""An outside check: Schemathesis generates requests from the served ``openapi.json`` and holds the
answers to it (no server error, documented status codes, content types and response schemas).

Bounded: a few derandomized examples per operation and mode, without shrinking, so the run takes
about a minute. Positive cases use the demo's real identifiers, so they reach the views.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.served, pytest.mark.slow]

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
EXAMPLES = 10
#: the operations a case was sent to, so that a schema nobody can generate for does not pass silently
CALLS: set[str] = set()


def identifiers(base_url: str, token: str) -> dict[str, object]:
    """Real path values from the demo: ACME, one of its cases, activities, quotes, an invoice."""
    headers = {"Authorization": f"Bearer {token}"}

    def first(path: str, key: str = "number"):
        response = requests.get(f"{base_url}{path}", headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["items"][0][key]

    today = datetime.now(UTC).date()
    period = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    run = requests.post(f"{base_url}/invoices/run", json={"period": period}, headers=headers, timeout=120)
    assert run.status_code == 200, run.text
    case = first("/clients/ACME/cases")
    return {"code": "ACME", "case": case, "quote": first("/clients/ACME/quotes"),
            "invoice": first("/clients/ACME/invoices"), "activity_id": first(f"/cases/{case}/activities", "id")}


def path_values(path: str, known: dict[str, object]) -> dict[str, object]:
    """The real values for the parameters of ``path``."""
    number = {"cases": known["case"], "quotes": known["quote"], "invoices": known["invoice"]}
    values = {"code": known["code"], "activity_id": known["activity_id"],
              "number": number.get(path.split("/")[1])}
    return {name: value for name, value in values.items() if "{" + name + "}" in path}


def exercise(operation, mode, base_url: str, token: str, path_parameters: dict | None) -> list[str]:
    """Run a few generated cases against ``operation``; return the failures found."""
    found: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def check(case):
        CALLS.add(operation.label)
        try:
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                   checks=CHECKS, timeout=60)
        except (Failure, FailureGroup) as failure:
            found.append(f"{operation.label} ({mode.value}): {failure}\n  {case.as_curl_command()}")

    check()
    return found


def test_the_served_api_answers_as_its_document_says(demo_live_server):
    server, token = demo_live_server
    base_url = f"{server.base_url}/api/v1"
    known = identifiers(base_url, token)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")

    failures, operations = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.add(operation.label)
        real = path_values(operation.path, known)
        failures += exercise(operation, schemathesis.GenerationMode.POSITIVE, base_url, token, real or None)
        failures += exercise(operation, schemathesis.GenerationMode.NEGATIVE, base_url, token, None)

    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:20])
    assert CALLS == operations
