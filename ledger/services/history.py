"""Lines of history that explain themselves: "appointment 14:00–15:40, 100 min = 4 incidents"."""

from __future__ import annotations

from datetime import timedelta, timezone

from ..models import Activity


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
