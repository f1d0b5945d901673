"""Lines of history that explain themselves: "appointment 14:00–15:40, 100 min = 4 incidents"."""

from __future__ import annotations

import gettext
from datetime import timedelta, timezone

from ..models import Activity

#: no catalogue: the words as written (the pages pass the reader's catalogue)
ENGLISH = gettext.NullTranslations()


def local_time(activity: Activity, moment) -> str:
    """``HH:MM`` of ``moment`` in the offset the activity's times were given in."""
    zone = timezone(timedelta(minutes=activity.utc_offset_minutes))
    return moment.astimezone(zone).strftime("%H:%M")


def describe(activity: Activity, text: gettext.NullTranslations = ENGLISH) -> str:
    """What happened and what it cost, in one line, in the language of the catalogue ``text``."""
    _, ngettext = text.gettext, text.ngettext
    incidents = activity.incidents_charged
    cost = ngettext("%(num)d incident", "%(num)d incidents", incidents) % {"num": incidents}
    if activity.kind == "appointment":
        span = f"{local_time(activity, activity.occurred_at)}–{local_time(activity, activity.ended_at)}"
        line = _("appointment %(span)s, %(minutes)s min = %(cost)s") % {
            "span": span, "minutes": activity.minutes, "cost": cost}
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
