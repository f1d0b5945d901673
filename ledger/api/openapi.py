"""The OpenAPI document of the JSON API (being written)."""


def document() -> dict:
    return {"openapi": "3.1.0", "info": {"title": "Support Ledger API", "version": "1"}, "paths": {}}
