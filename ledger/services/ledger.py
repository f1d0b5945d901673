"""Posting to the append-only ledger: the one place entries are written and lot figures move."""

from __future__ import annotations

import functools
from datetime import date
from typing import TypeVar

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from .. import billing, metrics
from ..db import lock_row
from ..models import Activity, Client, Entry, Lot, User

M = TypeVar("M")


def lock_client(session: Session, client: Client | int) -> Client:
    """Hold the client's lock for the rest of the transaction: one writer per client at a time.

    Takes the client or its id (an id saves loading the row twice).
    """
    return lock_row(session, Client, client if isinstance(client, int) else client.id)


def post(
    session: Session, client: Client, *, unit: str, quantity: int, kind: str, effective_on: date,
    lot: Lot | None = None, activity: Activity | None = None, reverses: Entry | None = None,
    role: str | None = None, memo: str = "", user: User | None = None,
) -> Entry:
    """Append one entry; a lot's ``remaining`` moves with it in the same transaction."""
    if lot is not None:
        lot.remaining += quantity
    entry = Entry(
        client_id=client.id, effective_on=effective_on, unit=unit, role=role, quantity=quantity, kind=kind,
        lot=lot, activity=activity, reverses_id=reverses.id if reverses is not None else None, memo=memo,
        created_by_id=user.id if user is not None else None,
    )
    session.add(entry)
    return entry


def as_balance(lot: Lot | Row) -> billing.LotBalance:
    """The rules' view of a lot: a ``Lot``, or a row of :data:`OPEN_INCIDENT_LOTS`."""
    return billing.LotBalance(lot.id, lot.remaining, lot.starts_on, lot.expires_on, lot.id)


# The charge path runs on every post, so its statements are plain Core statements on the
# tables, built once here: building a statement, or going through the ORM's unit of work,
# costs more than the database's work on these rows (measured by bench/posting.py).
_lots = Lot.__table__

#: what the rules need from a client's usable incident lots (parameter ``client_id``)
OPEN_INCIDENT_LOTS = select(_lots.c.id, _lots.c.remaining, _lots.c.starts_on, _lots.c.expires_on).where(
    _lots.c.client_id == bindparam("client_id"),
    _lots.c.unit == "incident",
    _lots.c.remaining > 0,
    _lots.c.closed.is_(False),
)
_DRAW_FROM_LOT = (
    update(_lots)
    .where(_lots.c.id == bindparam("lot_id"))
    .values(remaining=_lots.c.remaining - bindparam("drawn"))
)


def insert_row(session: Session, model: type[M], values: dict) -> M:
    """INSERT one row with Core; return it as a persistent ``model`` object (key ``id``) of the session.

    What ``session.add(model(**values))`` and a flush would leave, at a fraction of the
    unit of work's cost. The object is built from what was inserted (Core's Python-side
    defaults included) and the new key; :func:`make_transient_to_detached` marks it as
    loaded from the database, so it is neither pending nor dirty. A column left out of
    ``values`` is read from the database if the object's attribute is used.
    """
    result = session.execute(_insert_into(model.__table__), values)
    row = model(**{**result.last_inserted_params(), "id": result.inserted_primary_key[0]})
    make_transient_to_detached(row)
    session.add(row)
    return row


#: the INSERT of a table, built once
_insert_into = functools.cache(insert)


def plan_incident_charge(session: Session, client: Client, incidents: int, on: date,
                         lots: list[billing.LotBalance] | None = None) -> billing.Allocation:
    """How a charge of ``incidents`` dated ``on`` draws from the lots, earliest expiry first.

    The caller holds the client's lock (whose ORM query flushed anything pending);
    ``lots`` are the usable lots if it read them already under that lock. Under the block
    policy a charge the balance cannot cover raises :class:`billing.InsufficientIncidents`,
    before anything is posted.
    """
    if incidents == 0:
        return billing.Allocation()
    if lots is None:
        rows = session.execute(OPEN_INCIDENT_LOTS, {"client_id": client.id})
        lots = [as_balance(row) for row in rows]
    return billing.allocate(lots, incidents, on, client.overage_policy)


def charge_incidents(session: Session, client: Client, activity: Activity, allocation: billing.Allocation,
                     user: User | None = None) -> list[Entry]:
    """Post ``allocation`` for ``activity``: an entry per lot drawn, one for any overage.

    Each lot's ``remaining`` moves in the same transaction.
    """
    memo = activity_memo(activity)
    entries = [
        _post_charge(session, client, activity, -draw.quantity, "charge", memo, user, draw.lot_id)
        for draw in allocation.draws
    ]
    if allocation.overage:
        entries.append(_post_charge(session, client, activity, -allocation.overage, "overage",
                                    f"{memo} (overage)", user))
    for draw in allocation.draws:
        _draw_from_lot(session, draw)
    if entries:
        metrics.charge_posted(session, "incident", activity.kind, -sum(entry.quantity for entry in entries))
    return entries


def _post_charge(
    session: Session, client: Client, activity: Activity, quantity: int, kind: str, memo: str,
    user: User | None, lot_id: int | None = None,
) -> Entry:
    return insert_row(session, Entry, {
        "client_id": client.id, "effective_on": activity.effective_on,
        "unit": "incident", "role": None, "quantity": quantity, "kind": kind, "lot_id": lot_id,
        "activity_id": activity.id, "reverses_id": None, "memo": memo,
        "created_by_id": user.id if user is not None else None,
    })


def _draw_from_lot(session: Session, draw: billing.Draw) -> None:
    """Move the lot's ``remaining`` in the database, and in its ``Lot`` if the session holds one."""
    session.execute(_DRAW_FROM_LOT, {"lot_id": draw.lot_id, "drawn": draw.quantity})
    lot = session.identity_map.get(session.identity_key(Lot, draw.lot_id))
    if lot is not None:
        session.expire(lot, ["remaining"])


def activity_memo(activity: Activity) -> str:
    """A line that explains the charge: what happened, on which case, how long."""
    case = activity.case.number if activity.case is not None else "no case"
    if activity.kind == "appointment":
        return f"appointment on {case}, {activity.minutes} min = {activity.incidents_charged} incidents"
    if activity.kind == "technician_response":
        return f"technician response on {case}"
    return f"{activity.kind.replace('_', ' ')} on {case}"
