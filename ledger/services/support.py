"""Support work against cases: help-desk answers, technician responses, appointments, waivers."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import billing
from ..db import acquire_write_lock, held_lock
from ..errors import N_, Conflict, NotFound, ValidationError
from ..models import SEVERITIES, Activity, Case, Client, Entry, Lot, User, Waiver
from . import access
from .ledger import (
    OPEN_INCIDENT_LOTS,
    as_balance,
    charge_incidents,
    insert_row,
    lock_client,
    plan_incident_charge,
    post,
)
from .numbers import next_number
from .sla import mark_responded

_activities = Activity.__table__
#: whether the case (parameter ``case_id``) has a technician response
_RESPONDED = exists().where(
    _activities.c.case_id == bindparam("case_id"), _activities.c.kind == "technician_response"
)
#: the client's usable lots (parameter ``client_id``), each row carrying that flag
_LOTS_AND_RESPONDED = OPEN_INCIDENT_LOTS.add_columns(_RESPONDED.label("responded"))


def open_case(
    session: Session, client: Client, subject: str, severity: str, opened_at: datetime,
    user: User | None = None, description: str = "",
) -> Case:
    """Open a case for ``client`` with the next case number."""
    if severity not in SEVERITIES:
        raise ValidationError(N_("severity is one of %(choices)s"), "severity", choices=", ".join(SEVERITIES))
    number = next_number(session, "case")
    case = Case(number=f"C-{number:06d}", client_id=client.id, subject=subject, severity=severity,
                description=description, opened_at=opened_at, created_by_id=user.id if user else None)
    session.add(case)
    session.flush()
    return case


def find_case(session: Session, number: str, user: User) -> Case:
    """The case with ``number`` if ``user`` may see its client; NotFound otherwise."""
    return access.find(session, Case, user, number)


def find_case_to_charge(session: Session, number: str, user: User) -> Case:
    """:func:`find_case`, taking its client's lock in the same statement (for a view that charges it).

    The client is loaded fresh under the lock and held for the transaction, so the service's
    :func:`lock_client` sends nothing. Case columns read with it may predate a parallel
    commit the lock waited for; the charge re-reads what that could change (the case's
    responses, the lots) after the lock, and ``responded_at`` moves by a conditional UPDATE.
    """
    acquire_write_lock(session)
    statement = (access.visible(Case, user).where(Case.number == number)
                 .join(Client, Client.id == Case.client_id).add_columns(Client)
                 .with_for_update(of=Client).execution_options(populate_existing=True))
    row = session.execute(statement).one_or_none()
    if row is None:
        raise NotFound(f"no case {number!r}", "number")
    case, client = row
    held_lock(session, client)
    return case


def find_activity(session: Session, activity_id: int, user: User) -> Activity:
    """The activity if ``user`` may see its client; NotFound otherwise."""
    return access.find(session, Activity, user, activity_id)


def log_helpdesk_answer(
    session: Session, case: Case, answered_at: datetime, by: str, note: str = "",
    user: User | None = None,
) -> Activity:
    """Log an immediate help-desk answer: charged 0, kept in the history."""
    client = lock_client(session, case.client_id)
    return _record(session, client, case, "helpdesk_answer", answered_at, by, note,
                   billing.helpdesk_answer_incidents(), user=user)


def log_technician_response(
    session: Session, case: Case, responded_at: datetime, technician: str, note: str = "",
    user: User | None = None,
) -> Activity:
    """Log a technician's response: the first on a case charges one incident, later ones 0."""
    client = lock_client(session, case.client_id)
    responded_before, lots = _responded_before_and_lots(session, case)
    incidents = billing.technician_response_incidents(responded_before)
    return _record(session, client, case, "technician_response", responded_at, technician, note,
                   incidents, user=user, lots=lots)


def _responded_before_and_lots(session: Session, case: Case) -> tuple[bool, list[billing.LotBalance]]:
    """Whether ``case`` has a technician response already, and its client's usable lots.

    One statement for both, read under the client's lock: the flag rides on each lot
    row, and only a client with no usable lot needs a second statement for it.
    """
    params = {"case_id": case.id, "client_id": case.client_id}
    rows = session.execute(_LOTS_AND_RESPONDED, params).all()
    if not rows:
        return bool(session.scalar(select(_RESPONDED), params)), []
    return bool(rows[0].responded), [as_balance(row) for row in rows]


def log_appointment(
    session: Session, case: Case, started_at: datetime, ended_at: datetime, technician: str,
    note: str = "", user: User | None = None,
) -> Activity:
    """Log a concluded appointment: 2 incidents for the first hour, 1 per further 30 minutes."""
    minutes = billing.appointment_minutes(started_at, ended_at)
    incidents = billing.appointment_incidents(minutes)
    client = lock_client(session, case.client_id)
    return _record(session, client, case, "appointment", started_at, technician, note, incidents,
                   ended_at=ended_at, minutes=minutes, user=user)


def _record(
    session: Session, client: Client, case: Case, kind: str, occurred_at: datetime, actor: str,
    note: str, incidents: int, *, ended_at: datetime | None = None, minutes: int | None = None,
    user: User | None = None, lots: list[billing.LotBalance] | None = None,
) -> Activity:
    """Validate, allocate, then write the activity and its entries; nothing is written on a refusal."""
    if occurred_at < case.opened_at:
        field = {"appointment": "started_at", "helpdesk_answer": "answered_at",
                 "technician_response": "responded_at"}[kind]
        raise ValidationError(N_("%(field_name)s is before case %(number)s was opened"), field, field_name=field,
                              number=case.number)
    allocation = plan_incident_charge(session, client, incidents, occurred_at.date(), lots)
    offset = occurred_at.utcoffset()
    activity = insert_row(session, Activity, {
        "client_id": client.id, "case_id": case.id, "kind": kind, "occurred_at": occurred_at,
        "ended_at": ended_at, "utc_offset_minutes": int(offset.total_seconds() // 60) if offset else 0,
        "effective_on": occurred_at.date(), "minutes": minutes, "role": None, "billed_minutes": None,
        "actor": actor, "note": note, "incidents_charged": incidents,
        "created_by_id": user.id if user else None,
    })
    entries = charge_incidents(session, client, activity, allocation, user=user)
    # Inserted without the unit of work, the new activity's relationships are not loaded; it has
    # exactly these entries, no waiver, this case and this client, and saying so spares the API
    # SELECTs (the client would be loaded again: the session holds only a weak reference to it).
    set_committed_value(activity, "entries", entries)
    set_committed_value(activity, "waiver", None)
    set_committed_value(activity, "case", case)
    set_committed_value(activity, "client", client)
    if kind in ("technician_response", "appointment"):
        mark_responded(session, case, occurred_at)
    return activity


def waive(session: Session, activity: Activity, reason: str, user: User | None = None,
          today: date | None = None) -> Activity:
    """Waive an activity's charge with a written reason: reversing entries return what it drew.

    Refused (409) when :func:`billing.waive_refusal` says so: a closed term, or overage of a
    term that has ended, is corrected with a credit note, never by a negative figure.
    """
    if not reason.strip():
        raise ValidationError(N_("a waiver needs a written reason"), "reason")
    today = today or datetime.now(UTC).date()
    client = lock_client(session, activity.client_id)
    session.refresh(activity)
    charges = [e for e in activity.entries if e.quantity < 0]
    refusal = billing.waive_refusal(activity.waiver is not None, [_posted(e, e.lot) for e in charges],
                                    client.term_start, today)
    if refusal is not None:
        raise Conflict(refusal, "id")
    on = max(activity.effective_on, today)
    memo = f"waived: {reason.strip()}"
    for entry in charges:
        # A lot's credit is dated like its draw: a later-dated credit could otherwise pay for a
        # backdated charge and leave the lot negative on the days between. Overage reversals
        # are dated today, so a month already invoiced stays as it was billed.
        day = entry.effective_on if entry.lot is not None else on
        post(session, client, unit=entry.unit, quantity=-entry.quantity, kind="reversal",
             effective_on=day, lot=entry.lot, activity=activity, reverses=entry, memo=memo, user=user)
    session.add(Waiver(activity=activity, reason=reason.strip(), created_by_id=user.id if user else None))
    session.flush()
    return activity


def _posted(entry: Entry, lot: Lot | None) -> billing.PostedCharge:
    return billing.PostedCharge(entry.quantity, entry.effective_on, lot is not None,
                                bool(lot is not None and lot.closed))


def waivable(session: Session, activities: list[Activity], today: date) -> set[int]:
    """Ids of the ``activities`` whose incident charge may be waived today (the pages offer only those)."""
    charged = [a for a in activities if a.incidents_charged]
    if not charged:
        return set()
    rows = session.execute(
        select(Entry, Lot).outerjoin(Lot, Lot.id == Entry.lot_id)
        .where(Entry.activity_id.in_([a.id for a in charged]), Entry.quantity < 0)
    ).all()
    posted: dict[int, list[billing.PostedCharge]] = {}
    for entry, lot in rows:
        posted.setdefault(entry.activity_id, []).append(_posted(entry, lot))
    return {
        a.id for a in charged
        if billing.can_waive(a.waiver is not None, posted.get(a.id, []), a.client.term_start, today)
    }


def net_incidents(activity: Activity) -> int:
    """Incidents the activity costs now: what it charged, less any waiver."""
    return 0 if activity.waiver is not None else activity.incidents_charged
