"""One transaction per page request, and the one-time tokens that keep a form from posting twice.

A page that writes is wrapped in :func:`transaction`: on a POST it takes the SQLite write lock
first (as the API's ``writes`` does), consumes the form's one-time token, runs the view and
commits once; any exception rolls everything back. A view that catches a domain error to show
it runs the failed action in a savepoint (``db.session.begin_nested()``), so the commit never
carries half of it.

The one-time token is signed (with the app's secret key) and names the page session that was
shown the form, so rendering a form writes nothing; it is recorded as used in the same
transaction as the post. A replay posts nothing and is sent where the first post went.
"""

from __future__ import annotations

import secrets
from functools import wraps

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest

from ..db import acquire_write_lock
from ..errors import describe
from ..extensions import db
from ..models import FormUse
from .language import N_

#: the hidden field every posting form carries
ONCE_FIELD = "once"
#: how long a rendered form may wait before it is posted, in seconds
ONCE_MAX_AGE = 24 * 3600
ALREADY_DONE = N_("This form was sent already; it was not posted again. Here is what it did.")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="one-time form token")


def once_field() -> Markup:
    """The hidden input carrying a fresh one-time token for a form shown in the current page session
    (empty when signed out), for templates."""
    web_session = g.get("web_session")
    token = "" if web_session is None else _serializer().dumps(
        {"n": secrets.token_urlsafe(24), "s": web_session.id})
    return Markup('<input type="hidden" name="{}" value="{}">').format(ONCE_FIELD, token)


class FormExpired(BadRequest):
    description = ("The form was missing its one-time token, or it belongs to another session or expired. "
                   "Go back, reload the page and try again.")


def _posted_nonce() -> str:
    """The nonce of the posted one-time token, checked against the signature and this session."""
    web_session = g.get("web_session")
    try:
        data = _serializer().loads(request.form.get(ONCE_FIELD, ""), max_age=ONCE_MAX_AGE)
    except BadSignature:
        raise FormExpired() from None
    if web_session is None or not isinstance(data, dict) or data.get("s") != web_session.id:
        raise FormExpired()
    return str(data.get("n", ""))[:64]


def _replay(nonce: str):
    """The redirect a replayed token gets (where its first post went), or None if it is unused."""
    use = db.session.scalar(select(FormUse).where(FormUse.nonce == nonce))
    if use is None:
        return None
    return done(_(ALREADY_DONE), url=use.result_url or request.path)


def done(message: str, endpoint: str | None = None, *, url: str | None = None, **values):
    """Say what was done and go on to ``endpoint`` (with ``values``) or ``url``: the redirect that marks a
    post as acted on (see :func:`transaction`)."""
    flash(message, "info")
    return redirect(url or url_for(endpoint, **values))


def transaction(view=None, *, once: bool = True, batch: bool = False):
    """One transaction for a page request, committed once; a POST also takes the write lock and
    (unless ``once=False``) consumes the form's one-time token, so a replay posts nothing.

    ``batch=True`` is for a view that runs a batch committing its own units of work in sessions
    of their own (the month's invoice run): the request then takes no lock and writes nothing
    itself, since holding SQLite's write lock would block the batch; such a batch is idempotent,
    so a replayed form issues nothing new.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                response = _run(view, once and not batch, not batch, args, kwargs)
                db.session.commit()
                return response
            except BaseException:
                db.session.rollback()
                raise

        wrapper.transaction = True
        return wrapper

    return decorate if view is None else decorate(view)


def _run(view, once: bool, lock: bool, args, kwargs):
    if request.method != "POST":
        return current_app.make_response(view(*args, **kwargs))
    if lock:
        acquire_write_lock(db.session)  # SQLite: one writer at a time from the first read on
    if not once:
        return current_app.make_response(view(*args, **kwargs))
    nonce = _posted_nonce()
    earlier = _replay(nonce)
    if earlier is not None:
        return earlier
    use = FormUse(nonce=nonce, session_id=g.web_session.id)
    db.session.add(use)
    try:
        db.session.flush()  # PostgreSQL: a parallel post of the same token waits here, then fails
    except IntegrityError:
        db.session.rollback()
        return _replay(nonce) or redirect(request.path)
    response = current_app.make_response(view(*args, **kwargs))
    # the view acted when it redirected, or created something and shows it (201); a form shown again
    # with its errors, a preview or a confirmation page leaves the token unused
    if response.status_code == 201 or 300 <= response.status_code < 400:
        use.result_url = response.location or request.path
    else:
        db.session.delete(use)
    return response


def save_checked(action, fields: dict,
                 checked_with: dict[str, tuple[str, ...]] | None = None) -> list[Exception]:
    """``action(**fields)`` in a savepoint, and [] once it ran; else the domain error of each field on its
    own, so a form shows every mistake at once, not the first.

    To find them ``action(**some_fields)`` runs once per field (with the fields ``checked_with`` names,
    e.g. a VAT ID with its country) in a savepoint that is always undone: nothing is kept.
    """
    found: dict[tuple, Exception] = {}
    for name in fields:
        alone = {other: fields[other] for other in (name, *(checked_with or {}).get(name, ())) if other in fields}
        savepoint = db.session.begin_nested()
        try:
            action(**alone)
        except Exception as error:
            info = describe(error)
            if info is None:
                raise
            found.setdefault((info.field, info.message), error)
        finally:
            savepoint.rollback()
    if found:
        return list(found.values())
    try:
        with db.session.begin_nested():
            action(**fields)
    except Exception as error:
        if describe(error) is None:
            raise
        return [error]
    return []
