"""Endpoints for benchmarks only: registered when ``LEDGER_BENCH_ENDPOINTS=1``, never in production.

``POST /_bench/insert`` is the bare baseline of ``bench/charge_throughput.py``: the same app,
server and database, one Core ``INSERT`` of a ledger entry and a ``COMMIT`` per request, and
nothing else (no token, no lock, no validation).
"""

from __future__ import annotations

import os
from datetime import date

from flask import Blueprint, Flask, request
from sqlalchemy import insert

from .extensions import csrf, db
from .models import Entry

#: the environment variable that turns these endpoints on
SWITCH = "LEDGER_BENCH_ENDPOINTS"

blueprint = Blueprint("bench", __name__, url_prefix="/_bench")
csrf.exempt(blueprint)
_INSERT = insert(Entry.__table__)


def init_app(app: Flask) -> None:
    """Register the endpoints if, and only if, the switch is on."""
    if os.environ.get(SWITCH) == "1":
        app.register_blueprint(blueprint)


@blueprint.post("/insert")
def insert_one():
    """One entry row for the client named in the body, committed: what a bare write costs."""
    client_id = int(request.get_json()["client_id"])
    db.session.execute(_INSERT, {
        "client_id": client_id, "effective_on": date(2026, 3, 2), "unit": "incident", "role": None,
        "quantity": -1, "kind": "overage", "lot_id": None, "activity_id": None, "reverses_id": None,
        "memo": "bench: bare insert", "created_by_id": None,
    })
    db.session.commit()
    return {"ok": True}, 201
