"""Posting to the append-only ledger: the one place entries are written and lot figures move."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing
from ..db import lock_row
from ..models import Activity, Client, Entry, Lot, User


def lock_client(session: Session, client: Client | int) -> Client:
    """Hold the client's lock for the rest of the transaction: one writer per client at a time.

    Takes the client or its id (an id saves loading the row twice).
    """
    return lock_row(session, Client, client if isinstance(client, int) else client.id)


def post(
    session: Session,
    client: Client,
    *,
    unit: str,
    quantity: int,
    kind: str,
    effective_on: date,
    lot: Lot | None = None,
    activity: Activity | None = None,
    reverses: Entry | None = None,
    role: str | None = None,
    memo: str = "",
    user: User | None = None,
) -> Entry:
    """Append one entry; a lot's ``remaining`` moves with it in the same transaction."""
    if lot is not None:
        lot.remaining += quantity
    entry = Entry(
        client_id=client.id,
        effective_on=effective_on,
        unit=unit,
        role=role,
        quantity=quantity,
        kind=kind,
        lot=lot,
        activity=activity,
        reverses_id=reverses.id if reverses is not None else None,
        memo=memo,
        created_by_id=user.id if user is not None else None,
    )
    session.add(entry)
    return entry


def as_balance(lot: Lot) -> billing.LotBalance:
    """The rules' view of a lot."""
    return billing.LotBalance(lot.id, lot.remaining, lot.starts_on, lot.expires_on, lot.id)


def open_incident_lots(session: Session, client: Client) -> list[Lot]:
    """The client's incident lots with something left that no term close has touched."""
    statement = select(Lot).where(
        Lot.client_id == client.id,
        Lot.unit == "incident",
        Lot.remaining > 0,
        Lot.closed.is_(False),
    )
    return list(session.scalars(statement))


def charge_incidents(
    session: Session,
    client: Client,
    activity: Activity,
    incidents: int,
    user: User | None = None,
) -> list[Entry]:
    """Draw ``incidents`` for ``activity`` from the lots, earliest expiry first; the rest is overage.

    The caller holds the client's lock. Under the block policy a charge the balance
    cannot cover raises :class:`billing.InsufficientIncidents` before anything is posted.
    """
    if incidents == 0:
        return []
    lots = {lot.id: lot for lot in open_incident_lots(session, client)}
    on = activity.effective_on
    allocation = billing.allocate(
        [as_balance(lot) for lot in lots.values()], incidents, on, client.overage_policy
    )
    memo = activity_memo(activity)
    entries = [
        post(session, client, unit="incident", quantity=-draw.quantity, kind="charge",
             effective_on=on, lot=lots[draw.lot_id], activity=activity, memo=memo, user=user)
        for draw in allocation.draws
    ]
    if allocation.overage:
        entries.append(
            post(session, client, unit="incident", quantity=-allocation.overage, kind="overage",
                 effective_on=on, activity=activity, memo=f"{memo} (overage)", user=user)
        )
    return entries


def activity_memo(activity: Activity) -> str:
    """A line that explains the charge: what happened, on which case, how long."""
    case = activity.case.number if activity.case is not None else "no case"
    if activity.kind == "appointment":
        return f"appointment on {case}, {activity.minutes} min = {activity.incidents_charged} incidents"
    if activity.kind == "technician_response":
        return f"technician response on {case}"
    return f"{activity.kind.replace('_', ' ')} on {case}"
