"""The audit page: who did what and when, for admins (and finance, read only)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..services import audit
from .common import roles, viewer_zone
from .forms import _, _l

blueprint = Blueprint("audit", __name__)
PAGE_SIZE = 50
#: what each action code reads as
ACTIONS = {
    "entry": _l("ledger entry"), "payment": _l("payment recorded"), "payment_reversal": _l("payment reversed"),
    "invoice": _l("invoice issued"), "credit_note": _l("credit note issued"), "quote_created": _l("quote created"),
    "quote_accepted": _l("quote accepted"), "quote_declined": _l("quote declined"), "quote_expired": _l("quote expired"),
    "waiver": _l("charge waived"), "case_status": _l("case status changed"),
}


def _day(name: str, errors: dict) -> date | None:
    """The query's ``name`` as a day; a typed value that is not one is noted beside its field and ignored."""
    typed = (request.args.get(name) or "").strip()
    try:
        return date.fromisoformat(typed) if typed else None
    except ValueError:
        errors[name] = _("Type a date as YYYY-MM-DD; this one was left out.")
        return None


def _page_number() -> int:
    """The page asked for, from 1 to the deepest the audit reads; anything else is page 1 or the last."""
    try:
        return min(max(int(request.args.get("page", "1")), 1), audit.MAX_PAGE)
    except ValueError:
        return 1


def _instant(day: date | None, zone: str) -> datetime | None:
    """Midnight of ``day`` in the viewer's zone: the range's days are the viewer's days."""
    return None if day is None else datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


@blueprint.get("/audit")
@roles("admin", "finance")
def trail():
    errors: dict[str, str] = {}
    people = db.session.scalars(select(User).order_by(User.email)).all()
    user_id = request.args.get("user", "")
    chosen = next((person for person in people if str(person.id) == user_id), None)
    if user_id and chosen is None:
        errors["user"] = _("No such user; showing everyone.")
    start, end = _day("from", errors), _day("to", errors)
    zone = viewer_zone()
    wanted = audit.AuditFilter(user_id=chosen.id if chosen else None, start=_instant(start, zone),
                               end=_instant(end + timedelta(days=1), zone) if end else None)
    page = _page_number()
    lines, more = audit.audit_page(db.session, wanted, page, PAGE_SIZE)
    return render_template("audit/trail.html", lines=lines, more=more, page=page, people=people, chosen=chosen,
                           start=start, end=end, errors=errors, actions=ACTIONS, zone=zone)
