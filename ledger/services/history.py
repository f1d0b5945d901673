"""Lines of history that explain themselves ("appointment 14:00–15:40, 100 min = 4 incidents"), and a
client's running balance of incidents."""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from datetime import date, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import billing
from ..models import Activity, Client, Entry

#: no catalogue: the words as written (the pages pass the reader's catalogue)
ENGLISH = gettext.NullTranslations()


def local_time(activity: Activity, moment) -> str:
    """``HH:MM`` of ``moment`` in the offset the activity's times were given in."""
    zone = timezone(timedelta(minutes=activity.utc_offset_minutes))
    return moment.astimezone(zone).strftime("%H:%M")


def span(activity: Activity, zone: str | None = None) -> str:
    """An appointment's start and end: in ``zone`` with the zone named (``14:00–15:40 EST``, as pages
    show times to their reader), or without a zone in the offset they were typed in (documents)."""
    if zone is None:
        return f"{local_time(activity, activity.occurred_at)}–{local_time(activity, activity.ended_at)}"
    start, end = (moment.astimezone(ZoneInfo(zone)) for moment in (activity.occurred_at, activity.ended_at))
    return f"{start:%H:%M}–{end:%H:%M} {start.tzname()}"


def describe(activity: Activity, text: gettext.NullTranslations = ENGLISH, zone: str | None = None) -> str:
    """What happened and what it cost, in one line, in the language of the catalogue ``text``;
    an appointment's times in ``zone``, named, when one is given."""
    _, ngettext = text.gettext, text.ngettext
    incidents = activity.incidents_charged
    cost = ngettext("%(num)d incident", "%(num)d incidents", incidents) % {"num": incidents}
    if activity.kind == "appointment":
        line = _("appointment %(span)s, %(minutes)s min = %(cost)s") % {
            "span": span(activity, zone), "minutes": activity.minutes, "cost": cost}
    elif activity.kind == "technician_response":
        line = (_("technician response by %(who)s = %(cost)s") % {"who": activity.actor, "cost": cost} if incidents
                else _("technician response by %(who)s (case already charged) = 0 incidents") % {"who": activity.actor})
    elif activity.kind == "helpdesk_answer":
        line = _("help-desk answer by %(who)s = 0 incidents") % {"who": activity.actor}
    else:
        line = _("%(role)s work, %(minutes)s min billed as %(billed)s min") % {
            "role": activity.role, "minutes": activity.minutes, "billed": activity.billed_minutes}
    if activity.waiver is not None:
        line += _(" — waived: %(reason)s") % {"reason": activity.waiver.reason}
    return line


def balance_history(session: Session, client: Client, start: date, end: date,
                    kinds: Iterable[str] = (), text: gettext.NullTranslations = ENGLISH,
                    zone: str | None = None) -> billing.History:
    """The client's incidents from ``start`` to ``end``: the balance before, each entry with the
    balance after it, and the balance at the end; only the rows of ``kinds`` when some are named,
    each described in the language of the catalogue ``text`` (appointments' times in ``zone``).

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
    history = billing.running_history(int(opening), (_movement(entry, text, zone) for entry in entries))
    return billing.filter_history(history, kinds)


def _movement(entry: Entry, text: gettext.NullTranslations, zone: str | None) -> billing.Movement:
    activity = entry.activity
    memo = describe(activity, text, zone) if activity is not None else entry.memo
    case = activity.case.number if activity is not None and activity.case is not None else ""
    return billing.Movement(entry.effective_on, entry.kind, entry.quantity, entry.lot_id is not None,
                            entry.id, memo, case)
