"""What every page module shares: role checks, scoped lookups, form errors, formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import wraps
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from flask import abort, current_app, flash, has_request_context, render_template, request
from flask_login import current_user, login_required
from wtforms import Form

from ..errors import ValidationError, describe
from ..extensions import db
from ..models import Case, Client
from ..money import Money
from ..services import sla
from ..services.clients import find_client

STAFF = ("admin", "account_manager", "finance")
#: the interface's own locale (client money and dates use the client's)
UI_LOCALE = "en_US"


def roles(*allowed: str):
    """Sign-in required, and one of ``allowed`` roles (admin may open every staff page)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            role = current_user.role
            staff_page = any(r != "client" for r in allowed)
            if role not in allowed and not (role == "admin" and staff_page):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def client_or_404(code: str) -> Client:
    """The client the signed-in user may see, or 404 — never a hint that another exists."""
    info = None
    try:
        return find_client(db.session, code, current_user)
    except Exception as error:  # only domain errors are turned into a 404
        info = describe(error)
        if info is None:
            raise
    abort(404, info.message)


def apply_error(form: Form, error: Exception) -> bool:
    """Show a domain error beside the field it names (or above the form); False if not a domain error.

    The action that raised it ran in a savepoint (``db.session.begin_nested()``), undone already.
    """
    info = describe(error)
    if info is None:
        return False
    field = getattr(form, (info.field or "").split(".")[0].split("[")[0], None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, info.message] if isinstance(field.errors, list) else [info.message]
    else:
        flash(info.message, "error")
    return True


def confirmation(title: str, summary: list[str], back: str, button: str = "Confirm"):
    """The second step of an irreversible action: a page saying what will happen, whose form posts
    the same fields again with ``confirmed=yes``; None once that confirmed post arrives."""
    if request.form.get("confirmed") == "yes":
        return None
    fields = [(name, value) for name, values in request.form.lists() for value in values if name != "confirmed"]
    return render_template("confirm.html", title=title, summary=summary, fields=fields, action=request.path,
                           back=back, button=button)


def confirm_decision(quote, action: str, back: str):
    """The confirmation step before a quote is accepted or declined (both are final)."""
    total = Money.from_minor(quote.total_minor, quote.client.currency).format(quote.client.locale)
    verb = "Accept" if action == "accept" else "Decline"
    return confirmation(f"{verb} quote {quote.number}", [
        f"{verb} quote {quote.number} for {quote.client.name}, total {total}.",
        "The decision is final: it cannot be changed afterwards."], back,
        button=f"{verb} the quote")


def today() -> date:
    return datetime.now(UTC).date()


def money(minor: int, currency: str, locale: str) -> str:
    """An amount in minor units as the client reads it."""
    return Money.from_minor(minor, currency).format(locale)


def plain_number(value) -> str:
    """A Decimal without trailing zeros or exponent: 10.00 → "10", 0.50 → "0.5"."""
    return format(value.normalize(), "f")


def money_amount(amount, currency: str, locale: str) -> str:
    """A Decimal amount (major units) as the client reads it."""
    return Money(amount, currency).format(locale)


def viewer_zone() -> str:
    """The zone the signed-in user reads times in: their own, else their organisation's, else UTC."""
    user = current_user if has_request_context() else None
    zone = None
    if user is not None and getattr(user, "is_authenticated", False):
        zone = user.time_zone or (user.client.time_zone if user.client is not None else None)
    return zone or "UTC"


def viewer_locale() -> str:
    """The locale the pages are in: Flask-Babel's choice for this request once it is set up, else UI_LOCALE."""
    if not has_request_context() or "babel" not in current_app.extensions:
        return UI_LOCALE
    try:
        from flask_babel import get_locale
    except ImportError:  # pragma: no cover - the translations are optional until they are merged
        return UI_LOCALE
    found = get_locale()
    return str(found) if found else UI_LOCALE


def long_date(day: date | None, locale: str | None = None) -> str:
    """A day as ``locale`` (the viewer's by default) writes it: ``Dec 2, 2026``."""
    return "" if day is None else format_date(day, format="medium", locale=locale or viewer_locale())


def when(moment: datetime | None, locale: str | None = None) -> str:
    """An instant in the viewer's zone, the zone named: ``Dec 2, 2026, 2:30 PM EST``."""
    return local_when(moment, None, locale)


def hours(minutes: int) -> str:
    """Minutes as hours and minutes: ``12 h 30``."""
    whole, rest = divmod(int(minutes), 60)
    return f"{whole} h {rest:02d}" if rest else f"{whole} h"


def local_when(moment: datetime | None, zone: str | None = None, locale: str | None = None) -> str:
    """An instant in ``zone`` (the viewer's by default) as ``locale`` (the viewer's) writes it, the zone's
    abbreviation named: ``Jan 12, 2026, 4:00 PM EST``."""
    if moment is None:
        return ""
    locale = locale or viewer_locale()
    local = moment.astimezone(ZoneInfo(zone or viewer_zone()))
    # the locale's medium date and short time (no seconds), joined as the locale joins them
    joined = get_datetime_format("medium", locale=locale).replace("{1}", format_date(local, "medium", locale=locale))
    return f"{joined.replace('{0}', format_time(local, 'short', locale=locale))} {local.tzname()}"


def local_input(moment: datetime, zone: str) -> str:
    """An instant as a ``datetime-local`` input's value in ``zone``: ``2026-12-02T14:30``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def case_levels(case: Case) -> tuple[sla.CaseSla | None, str | None]:
    """A case's service levels and the zone its times are shown in (its plan's); (None, None) with no plan."""
    try:
        levels = sla.sla_for_case(db.session, case)
    except ValidationError:  # no plan at all: a database `ledger init` has not seeded
        return None, None
    # a client has no time zone of its own: its plan's business hours say which zone it works in
    return levels, sla.terms_in_force(sla.plan_of(db.session, case.client), today()).calendar.time_zone


def label(code: str | None) -> str:
    """A stored code as words: ``waiting_on_customer`` → ``waiting on customer``."""
    return (code or "").replace("_", " ")
