"""Signing in and out, with a limit on failed attempts per account and per address.

The count of recent failures and the password check happen under one lock (the SQLite write
lock; on PostgreSQL advisory locks on the e-mail and the address), so parallel guesses queue
and at most MAX_FAILURES passwords are checked a minute, however many arrive at once.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, or_, select, text

from ..extensions import db
from ..models import LoginFailure, User, utcnow
from ..services import users as accounts
from .boundary import done, transaction
from .forms import SignInForm
from .language import LANGUAGE_KEY

blueprint = Blueprint("auth", __name__)
#: the key of the page session's id in the signed cookie
SESSION_KEY = "sid"

#: failed sign-ins allowed per account or address within the window before 429
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=1)


def home_for(user: User) -> str:
    """Where a user lands after signing in."""
    return {
        "client": url_for("portal.dashboard"),
        "finance": url_for("finance.invoices"),
        "admin": url_for("admin.users"),
    }.get(user.role, url_for("manager.clients"))


def lock_attempts(email: str, address: str) -> None:
    """Queue sign-ins for the same e-mail or address until this transaction ends.

    On SQLite the request holds the write lock already (see ``transaction``); PostgreSQL takes
    transaction-scoped advisory locks, in a fixed order so two requests cannot deadlock.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({f"sign-in email {email}", f"sign-in address {address}"}):
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def too_many_failures(email: str, address: str) -> bool:
    count = db.session.scalar(select(func.count(LoginFailure.id)).where(
        LoginFailure.at >= utcnow() - FAILURE_WINDOW,
        or_(LoginFailure.email == email, LoginFailure.address == address)))
    return count >= MAX_FAILURES


@blueprint.route("/sign-in", methods=["GET", "POST"])
@transaction(once=False)  # no session yet to bind a one-time token to; a replay posts nothing anyway
def sign_in():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignInForm()
    if form.validate_on_submit():
        email, address = form.email.data.strip().lower(), request.remote_addr or "unknown"
        lock_attempts(email, address)
        if too_many_failures(email, address):
            abort(429, "Too many failed sign-ins. Wait a minute and try again.")
        user = db.session.scalar(select(User).where(User.email == email))
        if accounts.authenticate(user, form.password.data):
            session[SESSION_KEY] = accounts.start_session(db.session, user)
            login_user(user)
            return redirect(home_for(user))
        db.session.add(LoginFailure(email=email, address=address))  # committed with the 422 answer
        form.password.errors = ["The email or password is not right."]
    return render_template("auth/sign_in.html", form=form), 200 if request.method == "GET" else 422


@blueprint.post("/sign-out")
@login_required
@transaction
def sign_out():
    accounts.end_session(db.session, g.web_session)
    language = str(get_locale())  # the sign-in page that follows stays in the language just read
    logout_user()
    session.pop(SESSION_KEY, None)
    session[LANGUAGE_KEY] = language
    return done(_("You are signed out."), "auth.sign_in")
