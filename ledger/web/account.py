"""Every signed-in user's own settings: their password, language and time zone."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, session
from flask_login import current_user, login_required

from ..extensions import db
from ..models import LoginFailure
from ..services import users as accounts
from . import auth
from .boundary import done, transaction
from .common import attempt
from .forms import OwnPasswordForm, PreferencesForm, _, choices, typed

blueprint = Blueprint("account", __name__, url_prefix="/account")

#: each language in its own words (a reader who cannot read the current page still finds theirs)
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français", "fr_CA": "Français (Canada)"}


def _preferences_form(formdata=None) -> PreferencesForm:
    form = PreferencesForm(formdata=formdata) if formdata is not None else PreferencesForm(
        formdata=None, language=current_user.language or "", time_zone=current_user.time_zone or "")
    form.language.choices = choices([("", _("As my organisation"))] + list(LANGUAGE_NAMES.items()))
    return form


def _page(preferences: PreferencesForm | None = None, password: OwnPasswordForm | None = None, status: int = 200):
    return render_template(
        "account/settings.html", preferences=preferences or _preferences_form(),
        password=password or OwnPasswordForm(formdata=None), zones=sorted(accounts.time_zones()),
        organisation_zone=current_user.client.time_zone if current_user.client is not None else "UTC",
        min_length=accounts.MIN_PASSWORD_LENGTH), status


@blueprint.get("")
@login_required
def settings():
    return _page()


@blueprint.post("/preferences")
@login_required
@transaction
def save_preferences():
    form = _preferences_form(request.form)
    if form.validate_on_submit():
        with attempt(form):
            accounts.set_preferences(db.session, current_user, time_zone=typed(form.time_zone) or None,
                                     language=form.language.data or None)
            return done(_("Your language and time zone are saved."), "account.settings")
    return _page(preferences=form, status=422)


@blueprint.post("/password")
@login_required
@transaction
def change_password():
    """The user's own new password; wrong current passwords count as failed sign-ins (and are limited alike)."""
    form = OwnPasswordForm()
    if form.validate_on_submit():
        email, address = current_user.email, request.remote_addr or "unknown"
        auth.lock_attempts(email, address)
        if auth.too_many_failures(email, address):
            abort(429, _("Too many wrong passwords. Wait a minute and try again."))
        with attempt(form):
            accounts.change_own_password(db.session, current_user, form.current_password.data,
                                         form.new_password.data, form.repeat_password.data)
            # every session ended, this one too: the browser that changed it stays signed in on a new one
            session[auth.SESSION_KEY] = accounts.start_session(db.session, current_user)
            return done(_("Your password is changed; you are signed out everywhere else."),
                        "account.settings")
        if form.current_password.errors:
            db.session.add(LoginFailure(email=email, address=address))  # committed with the 422 answer
    return _page(password=form, status=422)
