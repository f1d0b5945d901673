"""Lines of history that explain themselves ("appointment 14:00–15:40, 100 min = 4 incidents"), and a
client's running balance of incidents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..models import Activity, Client, Entry


def local_time(activity: Activity, moment) -> str:
    """``HH:MM`` of ``moment`` in the offset the activity's times were given in."""
    zone = timezone(timedelta(minutes=activity.utc_offset_minutes))
    return moment.astimezone(zone).strftime("%H:%M")


def describe(activity: Activity) -> str:
    """What happened and what it cost, in one line."""
    incidents = activity.incidents_charged
    unit = "incident" if incidents == 1 else "incidents"
    if activity.kind == "appointment":
        span = f"{local_time(activity, activity.occurred_at)}–{local_time(activity, activity.ended_at)}"
        text = f"appointment {span}, {activity.minutes} min = {incidents} {unit}"
    elif activity.kind == "technician_response":
        text = f"technician response by {activity.actor}"
        text += f" = {incidents} {unit}" if incidents else " (case already charged) = 0 incidents"
    elif activity.kind == "helpdesk_answer":
        text = f"help-desk answer by {activity.actor} = 0 incidents"
    else:
        text = f"{activity.role} work, {activity.minutes} min billed as {activity.billed_minutes} min"
    if activity.waiver is not None:
        text += f" — waived: {activity.waiver.reason}"
    return text


def balance_history(session: Session, client: Client, start: date, end: date,
                    kinds: Iterable[str] = ()) -> billing.History:
    """The client's incidents from ``start`` to ``end``: the balance before, each entry with the
    balance after it, and the balance at the end; only the rows of ``kinds`` when some are named.

    The opening figure sums the same entries before ``start``, so the rows always add up.
    """
    on_lot = Entry.lot_id.is_not(None)
    opening = session.scalar(
        select(func.coalesce(func.sum(Entry.quantity), 0)).where(
            Entry.client_id == client.id, Entry.unit == "incident", on_lot, Entry.effective_on < start))
    entries = session.scalars(
        select(Entry).where(Entry.client_id == client.id, Entry.unit == "incident",
                            Entry.effective_on >= start, Entry.effective_on <= end)
        .options(selectinload(Entry.activity).selectinload(Activity.case),
                 selectinload(Entry.activity).selectinload(Activity.waiver))
        .order_by(Entry.effective_on, Entry.id)).all()
    history = billing.running_history(int(opening), (_movement(entry) for entry in entries))
    return billing.filter_history(history, kinds)


def _movement(entry: Entry) -> billing.Movement:
    activity = entry.activity
    memo = describe(activity) if activity is not None else entry.memo
    case = activity.case.number if activity is not None and activity.case is not None else ""
    return billing.Movement(entry.effective_on, entry.kind, entry.quantity, entry.lot_id is not None,
                            entry.id, memo, case)
