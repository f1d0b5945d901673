"""What every page module shares: role checks, scoped lookups, form errors, formatting."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import wraps
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from flask import Blueprint, abort, current_app, flash, has_request_context, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import Form

from ..errors import ErrorInfo, NotFound, ValidationError, describe
from ..extensions import db
from ..i18n import translations
from ..models import Case, Client, RateCard
from ..money import Money
from ..services import history, ratecards, sla
from ..services.clients import find_client
from .language import N_, ui_locale

#: stored codes as the pages name them (statuses, states, severities, target outcomes, resolutions)
CODE_WORDS = {
    "open": N_("open"), "in_progress": N_("in progress"), "waiting_on_customer": N_("waiting on customer"),
    "resolved": N_("resolved"), "closed": N_("closed"),
    "workaround": N_("workaround"), "fix": N_("fix"), "information": N_("information"),
    "not_reproducible": N_("not reproducible"), "customer_unreachable": N_("customer unreachable"),
    "pending": N_("pending"), "met": N_("met"), "breached": N_("breached"), "none": N_("none"),
    "critical": N_("critical"), "major": N_("major"), "moderate": N_("moderate"), "minor": N_("minor"),
    "draft": N_("draft"), "sent": N_("sent"), "accepted": N_("accepted"), "declined": N_("declined"),
    "expired": N_("expired"),
    "partially_paid": N_("partially paid"), "paid": N_("paid"), "overdue": N_("overdue"), "credited": N_("credited"),
    "queued": N_("queued"), "sending": N_("sending"), "failed": N_("failed"),
}


#: the values errors give as stored codes (a quote's state, the move refused): shown as ``label`` words
CODE_PARAMS = ("state", "done", "status")


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


def only_for(blueprint: Blueprint, *allowed: str) -> None:
    """Every page of ``blueprint`` asks for sign-in and one of the ``allowed`` roles, as ``roles`` does."""
    blueprint.before_request(roles(*allowed)(lambda: None))


def allow_upload(blueprint: Blueprint, endpoint: str, limit: int) -> None:
    """Let a POST to ``endpoint`` carry up to ``limit`` bytes, set before the CSRF check reads the body, so a
    file too big still reaches the view, to be refused by name rather than with a bare 413."""

    @blueprint.url_value_preprocessor
    def allow(found: str | None, values) -> None:
        if found == endpoint and request.method == "POST":
            request.max_content_length = limit


def client_or_404(code: str) -> Client:
    """The client the signed-in user may see, or 404 — never a hint that another exists."""
    try:
        return find_client(db.session, code, current_user)
    except Exception as error:  # only domain errors are turned into a 404
        info = domain_info(error)
    abort(404, error_text(info))


def found_or_404(find: Callable, key):
    """What ``find(session, key, user)`` finds among what the signed-in user may see, or 404."""
    try:
        return find(db.session, key, current_user)
    except NotFound:
        abort(404)


def domain_info(error: Exception) -> ErrorInfo:
    """What a domain error says (see ``errors.describe``); any other error is raised again."""
    info = describe(error)
    if info is None:
        raise error
    return info


def error_text(info: ErrorInfo) -> str:
    """A domain error's message in the page's language: its template translated, then filled.

    The API answers with ``info.message``, the same template filled in English.
    """
    params = {name: label(value) if name in CODE_PARAMS and isinstance(value, str) else value
              for name, value in info.params.items()}
    return _(info.template or info.message, **params)


def apply_error(form: Form | None, error: Exception) -> bool:
    """Show a domain error beside the field it names (or above the form, or the page when there is no
    form); False if not a domain error.

    The action that raised it ran in a savepoint (``db.session.begin_nested()``), undone already.
    """
    info = describe(error)
    if info is None:
        return False
    field = None if form is None else getattr(form, (info.field or "").split(".")[0].split("[")[0], None)
    if field is not None and hasattr(field, "errors"):
        message = error_text(info)
        field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
    else:
        flash(error_text(info), "error")
    return True


@contextmanager
def attempt(form: Form | None = None):
    """Run the block in a savepoint: a domain error it raises is undone and shown (see ``apply_error``),
    and the view goes on after the block, to show the page again; any other error is raised."""
    try:
        with db.session.begin_nested():
            yield
    except Exception as error:
        if not apply_error(form, error):
            raise


def form_status() -> int:
    """200 for a fresh form, 422 when a submitted one is shown again with its errors."""
    return 422 if request.method == "POST" else 200


def download(data, mimetype: str, filename: str, disposition: str = "attachment"):
    """A document to save (or, ``disposition="inline"``, to open in the browser) under ``filename``."""
    return current_app.response_class(data, mimetype=mimetype, headers={
        "Content-Disposition": f'{disposition}; filename="{filename}"'})


def csv_download(header: tuple[str, ...], rows: Iterable[tuple], filename: str):
    """Rows as a CSV file to save, lines ending CRLF as RFC 4180 has them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return download(out.getvalue(), "text/csv", filename)


def confirmation(title: str, summary: list[str], back: str, button: str | None = None):
    """The second step of an irreversible action: a page saying what will happen, whose form posts
    the same fields again with ``confirmed=yes``; None once that confirmed post arrives."""
    if request.form.get("confirmed") == "yes":
        return None
    fields = [(name, value) for name, values in request.form.lists() for value in values if name != "confirmed"]
    return render_template("confirm.html", title=title, summary=summary, fields=fields, action=request.path,
                           back=back, button=button or _("Confirm"))


def confirm_decision(quote, action: str, back: str):
    """The confirmation step before a quote is accepted or declined (both are final)."""
    total = Money.from_minor(quote.total_minor, quote.client.currency).format(quote.client.locale)
    names = {"number": quote.number, "client": quote.client.name, "total": total}
    accept = action == "accept"
    title = _("Accept quote %(number)s", **names) if accept else _("Decline quote %(number)s", **names)
    summary = (_("Accept quote %(number)s for %(client)s, total %(total)s.", **names) if accept
               else _("Decline quote %(number)s for %(client)s, total %(total)s.", **names))
    button = _("Accept the quote") if accept else _("Decline the quote")
    return confirmation(title, [summary, _("The decision is final: it cannot be changed afterwards.")], back,
                        button=button)


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
    if user is None or not getattr(user, "is_authenticated", False):
        return "UTC"
    return user.time_zone or (user.client.time_zone if user.client is not None else None) or "UTC"


def long_date(day: date | None, locale: str | None = None) -> str:
    """A day as ``locale`` (the viewer's by default) writes it: ``Dec 2, 2026``."""
    return "" if day is None else format_date(day, format="medium", locale=locale or ui_locale())


def hours(minutes: int) -> str:
    """Minutes as hours and minutes: ``12 h 30``."""
    whole, rest = divmod(int(minutes), 60)
    return f"{whole} h {rest:02d}" if rest else f"{whole} h"


def local_when(moment: datetime | None, zone: str | None = None, locale: str | None = None) -> str:
    """An instant in ``zone`` (the viewer's by default) as ``locale`` (the viewer's) writes it, the zone's
    abbreviation named: ``Jan 12, 2026, 4:00 PM EST``."""
    if moment is None:
        return ""
    locale = locale or ui_locale()
    local = moment.astimezone(ZoneInfo(zone or viewer_zone()))
    # the locale's medium date and short time (no seconds), joined as the locale joins them
    joined = get_datetime_format("medium", locale=locale).replace("{1}", format_date(local, "medium", locale=locale))
    return f"{joined.replace('{0}', format_time(local, 'short', locale=locale))} {local.tzname()}"


def case_levels(case: Case) -> tuple[sla.CaseSla | None, str | None]:
    """A case's service levels and the zone its times are shown in (its plan's); (None, None) with no plan."""
    try:
        levels = sla.sla_for_case(db.session, case)
    except ValidationError:  # no plan at all: a database `ledger init` has not seeded
        return None, None
    # a client has no time zone of its own: its plan's business hours say which zone it works in
    return levels, sla.terms_in_force(sla.plan_of(db.session, case.client), today()).calendar.time_zone


def label(code: str | None) -> str:
    """A stored code as words in the page's language: ``waiting_on_customer`` → ``waiting on customer``."""
    words = CODE_WORDS.get(code or "")
    return _(words) if words else (code or "").replace("_", " ")


def page_words():
    """The catalogue of this page's language, for text the services compose (``history.describe``)."""
    return translations(str(get_locale() or "en"))


def describe_activity(activity) -> str:
    """A line of a client's history in the page's language."""
    return history.describe(activity, page_words(), viewer_zone())


def role_title(code: str | None) -> str:
    """A user role's title as the pages show it (the code is for the API and the database):
    ``account_manager`` → ``Account manager``."""
    return {"account_manager": _("Account manager"), "finance": _("Finance"), "client": _("Client"),
            "admin": _("Administrator")}.get(code or "", label(code))


def card_today(currency: str) -> RateCard | None:
    """The rate card in force today for ``currency``; None when there is none."""
    try:
        return ratecards.card_in_force(db.session, currency, today())
    except NotFound:
        return None


def rate_card_titles(client: Client) -> dict[str, str]:
    """The titles of the roles on the client's rate card in force (``analyst`` → the role's title)."""
    card = card_today(client.currency)
    return {role.code: role.title for role in card.roles} if card else {}
