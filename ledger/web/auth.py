"""Signing in and out, with a limit on failed attempts per account and per address."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..extensions import db
from ..models import LoginFailure, User, utcnow
from ..services.users import check_password

blueprint = Blueprint("auth", __name__)

#: failed sign-ins allowed per account or address within the window before 429
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=1)


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def home_for(user: User) -> str:
    """Where a user lands after signing in."""
    return {
        "client": url_for("portal.dashboard"),
        "finance": url_for("finance.invoices"),
        "admin": url_for("admin.users"),
    }.get(user.role, url_for("manager.clients"))


def _too_many_failures(email: str, address: str) -> bool:
    since = utcnow() - FAILURE_WINDOW
    count = db.session.scalar(
        select(func.count(LoginFailure.id)).where(
            LoginFailure.at >= since, or_(LoginFailure.email == email, LoginFailure.address == address)
        )
    )
    return count >= MAX_FAILURES


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignInForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "unknown"
        if _too_many_failures(email, address):
            abort(429, "Too many failed sign-ins. Wait a minute and try again.")
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and user.active and check_password(user, form.password.data):
            login_user(user)
            return redirect(home_for(user))
        db.session.add(LoginFailure(email=email, address=address))
        db.session.commit()
        form.password.errors = ["The email or password is not right."]
    return render_template("auth/sign_in.html", form=form), 200 if request.method == "GET" else 422


@blueprint.post("/sign-out")
@login_required
def sign_out():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
