"""Admin: users, their roles and passwords, and their API tokens."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, Length

from ..extensions import db
from ..models import ROLES, ApiToken, Client, User
from ..services import users as accounts
from .boundary import transaction
from .common import apply_error, confirmation, roles
from .forms import choices

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
ADMIN = ("admin",)
ROLE_TITLES = {"admin": "Admin", "account_manager": "Account manager", "finance": "Finance", "client": "Client user"}
PASSWORD_HINT = f"At least {accounts.MIN_PASSWORD_LENGTH} characters."


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", default="account_manager")
    client = SelectField("Client (for a client user only)", default="")
    password = PasswordField("Initial password", validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])


def _with_choices(form: UserForm) -> UserForm:
    """The role and client options (set here: wtforms 3.3 deprecates tuples given to the field's constructor)."""
    form.role.choices = choices((role, ROLE_TITLES.get(role, role)) for role in ROLES)
    clients = db.session.scalars(select(Client).order_by(Client.code)).all()
    form.client.choices = choices([("", "—")] + [(c.code, f"{c.code} · {c.name}") for c in clients])
    return form


def _users_page(form: UserForm, status: int = 200):
    people = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    return render_template("admin/users.html", people=people, form=form, titles=ROLE_TITLES,
                           hint=PASSWORD_HINT), status


@blueprint.get("/users")
@roles(*ADMIN)
def users():
    return _users_page(_with_choices(UserForm(formdata=None)))


@blueprint.post("/users")
@roles(*ADMIN)
@transaction
def create_user():
    form = _with_choices(UserForm())
    if form.validate_on_submit():
        client = db.session.scalar(select(Client).where(Client.code == form.client.data)) if form.client.data else None
        try:
            with db.session.begin_nested():
                created = accounts.create_user(db.session, form.email.data, form.role.data, client=client,
                                               password=form.password.data)
            flash(f"User {created.email} created ({ROLE_TITLES.get(created.role, created.role)}).", "info")
            return redirect(url_for("admin.users"))
        except Exception as error:
            if not apply_error(form, error):
                raise
    return _users_page(form, 422)


def _user_or_404(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404)
    return found


def _user_page(account: User, form: PasswordForm | None = None, status: int = 200):
    return render_template("admin/user.html", account=account, titles=ROLE_TITLES, hint=PASSWORD_HINT,
                           form=form or PasswordForm(formdata=None)), status


@blueprint.get("/users/<int:user_id>")
@roles(*ADMIN)
def user(user_id: int):
    return _user_page(_user_or_404(user_id))


@blueprint.post("/users/<int:user_id>/<any(deactivate, reactivate):action>")
@roles(*ADMIN)
@transaction
def set_active(user_id: int, action: str):
    account = _user_or_404(user_id)
    back = "user" if request.form.get("next") == "user" else "users"
    if account.id == current_user.id and action == "deactivate":
        flash("You cannot deactivate yourself; ask another admin.", "error")
    else:
        if action == "deactivate":
            asked = confirmation(f"Deactivate {account.email}", [
                (f"{account.email} ({ROLE_TITLES.get(account.role, account.role)}) is signed out everywhere "
                 "and can no longer sign in or use their API tokens."),
                "An admin can reactivate the user later; the sessions ended now stay ended."],
                _back_to(back, account), button="Deactivate the user")
            if asked is not None:
                return asked
        accounts.set_active(db.session, account, action == "reactivate")
        if account.active:
            flash(f"{account.email} is active again.", "info")
        else:
            flash(f"{account.email} is deactivated: they can no longer sign in or use their API tokens.", "info")
    return redirect(_back_to(back, account))


def _back_to(page: str, account: User) -> str:
    return url_for("admin.user", user_id=account.id) if page == "user" else url_for("admin.users")


@blueprint.post("/users/<int:user_id>/password")
@roles(*ADMIN)
@transaction
def reset_password(user_id: int):
    account = _user_or_404(user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                accounts.change_password(db.session, account, form.password.data)
            flash(f"The password of {account.email} is changed; they are signed out everywhere.", "info")
            return redirect(url_for("admin.user", user_id=account.id))
        except Exception as error:
            if not apply_error(form, error):
                raise
            account = _user_or_404(user_id)
    return _user_page(account, form, 422)


# --- API tokens --------------------------------------------------------------------------


def _tokens_page(account: User, new_token: str | None = None, status: int = 200):
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == account.id).order_by(ApiToken.id.desc())).all()
    return render_template("admin/tokens.html", account=account, tokens=tokens, new_token=new_token,
                           titles=ROLE_TITLES), status


@blueprint.get("/users/<int:user_id>/tokens")
@roles(*ADMIN)
def tokens(user_id: int):
    return _tokens_page(_user_or_404(user_id))


@blueprint.post("/users/<int:user_id>/tokens")
@roles(*ADMIN)
@transaction
def create_token(user_id: int):
    """A new token, shown in this response only: it is kept nowhere but as a hash (not in the session)."""
    account = _user_or_404(user_id)
    token = accounts.create_token(db.session, account)
    body, _ = _tokens_page(account, new_token=token)
    return body, 201, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blueprint.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
@roles(*ADMIN)
@transaction
def revoke_token(user_id: int, token_id: int):
    account = _user_or_404(user_id)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != account.id:
        abort(404)
    if token.revoked_at is not None:
        flash(f"Token {token.prefix}… was revoked already.", "info")
    else:
        accounts.revoke_token(db.session, token.id)
        flash(f"Token {token.prefix}… is revoked.", "info")
    return redirect(url_for("admin.tokens", user_id=account.id))
