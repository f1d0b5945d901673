"""The served app: every line it logs is JSON, and /metrics sums the counters of all its workers."""

from __future__ import annotations

import json

import pytest
import requests

from tests.helpers import in_parallel, running_server
from tests.helpers import metric_sample as sample

pytestmark = [pytest.mark.slow, pytest.mark.served]


def log_lines(server) -> list[dict]:
    """Every line the server wrote, each parsed as JSON (a line that is not JSON fails here)."""
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


def test_two_workers_log_json_and_one_scrape_sums_both(database_url, tmp_path):
    with running_server(database_url, tmp_path / "served", workers=2) as server:
        def probe(n: int):
            return lambda: requests.get(f"{server.base_url}/healthz", headers={"X-Request-Id": f"probe-{n}"},
                                        timeout=10)

        # bursts of 12 at once, each on a new connection: while one worker answers, the other takes the
        # next (one after another, the same worker may win every accept)
        for burst in range(5):
            numbers = range(burst * 12, burst * 12 + 12)
            responses = in_parallel([probe(n) for n in numbers])
            assert [r.headers["X-Request-Id"] for r in responses] == [f"probe-{n}" for n in numbers]
        scraped = requests.get(f"{server.base_url}/metrics", timeout=10)
        assert scraped.status_code == 200
        lines = log_lines(server)
    served = [line for line in lines if line.get("logger") == "ledger.requests" and line["route"] == "/healthz"]
    assert len({line["process"] for line in served}) == 2, "both workers answered"
    # wait_until_healthy's polls count too: the scrape must equal every /healthz line the workers logged
    assert sample(scraped.text, "ledger_http_requests_total", method="GET", route="/healthz",
                  status="200") == len(served)
    probes = [line for line in lines if line.get("logger") == "gunicorn.access"
              and line.get("request_id", "").startswith("probe-")]
    assert len(probes) == 60 and all(line["status"] == 200 and line["path"] == "/healthz" for line in probes)
