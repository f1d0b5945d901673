"""HTTP conventions of the JSON API (Allow, WWW-Authenticate, 415, 500), and numbers that stay exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.api import parse_json, schemas
from ledger.api.openapi import document
from ledger.api.schemas import NewQuote, Tier

CLIENT = {"code": "NEWCO", "name": "New Co", "currency": "USD", "locale": "en_US", "tax_rate": "10",
          "term_start": "2026-01-01"}


def test_a_method_the_path_does_not_serve_is_405_with_allow(api):
    response = api.client.delete("/api/v1/clients", headers=api.headers(None, None))

    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}


def test_a_missing_token_is_401_with_www_authenticate_bearer(api):
    response = api.as_("").get("/clients")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_post_body_that_is_not_json_is_415_naming_content_type_and_nothing_is_posted(api, content_type):
    response = api.client.post("/api/v1/clients", data=b'{"code": "NEWCO"}', content_type=content_type,
                               headers=api.headers(None, None))

    assert response.status_code == 415
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("unsupported_media_type", "Content-Type")
    assert api.get("/clients/NEWCO").status_code == 404


def test_an_empty_post_needs_no_content_type(api, make_client, rate_card):
    make_client("ACME")
    number = api.post("/clients/ACME/quotes", {"lines": [{"role": "analyst", "unit": "hour", "quantity": 1}],
                                               "valid_until": "2099-12-31"}).get_json()["number"]

    response = api.client.post(f"/api/v1/quotes/{number}/send", headers=api.headers(None, None))

    assert response.status_code == 200


def test_an_unexpected_failure_is_500_with_the_error_object_and_no_traceback(api, make_client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    make_client("ACME")
    monkeypatch.setattr(schemas.Client, "of", broken)

    response = api.get("/clients/ACME")

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_document_describes_allow_www_authenticate_415_and_500():
    responses = document()["components"]["responses"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            assert path == "/openapi.json" or "500" in operation["responses"], (method, path)
            assert method != "post" or "415" in operation["responses"], path


@pytest.mark.parametrize("percent", [b"0.1", b'"0.1"'], ids=["a JSON number", "a string"])
def test_a_json_number_or_string_reaches_the_model_as_the_exact_decimal(percent):
    tier = Tier.model_validate(parse_json(b'{"min_hours": 1, "percent": ' + percent + b"}"))

    assert type(tier.percent) is Decimal
    assert tier.percent == Decimal("0.1") and str(tier.percent) == "0.1"


def test_a_quarter_hour_given_as_a_json_number_is_quoted_exactly(api, make_client, rate_card):
    make_client("ACME")
    body = NewQuote.model_validate(parse_json(b'{"lines": [{"role": "analyst", "unit": "hour", '
                                              b'"quantity": 0.25}], "valid_until": "2099-12-31"}'))
    assert body.lines[0].quantity == Decimal("0.25")

    quote = api.post("/clients/ACME/quotes", data=b'{"lines": [{"role": "analyst", "unit": "hour", '
                                                  b'"quantity": 0.25}], "valid_until": "2099-12-31"}')

    assert quote.status_code == 201, quote.get_json()
    assert quote.get_json()["lines"][0]["quantity"] == "0.25"


@pytest.mark.parametrize("period", ["0001-01", "1999-12", "2026-١٢", "2026- 1"])
def test_a_period_outside_2000_to_2100_or_not_in_ascii_digits_is_422_naming_it(api, make_token, period):
    """Schemathesis found that a run for 0001-01 answered 500 (no term a year before year 1)."""
    finance = api.as_(make_token("finance"))

    response = finance.post("/invoices/run", {"period": period})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "period"
