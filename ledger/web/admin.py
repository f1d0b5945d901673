"""Admin: users, their roles and passwords, their API tokens, and the vendor's profile."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import DateField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..extensions import db
from ..models import ROLES, ApiToken, Client, User, utcnow
from ..services import users as accounts
from ..services import vendor as profile
from .boundary import done, save_checked, transaction
from .common import allow_upload, apply_error, attempt, confirmation, only_for, role_title, today
from .forms import _, _l, choices, no_markup

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
only_for(blueprint, "admin")
PASSWORD_HINT = _l("At least %(count)s characters.", count=accounts.MIN_PASSWORD_LENGTH)


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), default="account_manager")
    client = SelectField(_l("Client (for a client user only)"), default="")
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])


def _with_choices(form: UserForm) -> UserForm:
    """The role and client options (set here: wtforms 3.3 deprecates tuples given to the field's constructor)."""
    form.role.choices = choices((role, role_title(role)) for role in ROLES)
    clients = db.session.scalars(select(Client).order_by(Client.code)).all()
    form.client.choices = choices([("", "—")] + [(c.code, f"{c.code} · {c.name}") for c in clients])
    return form


def _users_page(form: UserForm, status: int = 200):
    people = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    return render_template("admin/users.html", people=people, form=form, hint=PASSWORD_HINT), status


@blueprint.get("/users")
def users():
    return _users_page(_with_choices(UserForm(formdata=None)))


@blueprint.post("/users")
@transaction
def create_user():
    form = _with_choices(UserForm())
    if form.validate_on_submit():
        client = db.session.scalar(select(Client).where(Client.code == form.client.data)) if form.client.data else None
        with attempt(form):
            created = accounts.create_user(db.session, form.email.data, form.role.data, client=client,
                                           password=form.password.data)
            return done(_("User %(email)s created (%(role)s).", email=created.email, role=role_title(created.role)),
                        "admin.users")
    return _users_page(form, 422)


def _user_page(account: User, form: PasswordForm | None = None, status: int = 200):
    return render_template("admin/user.html", account=account, hint=PASSWORD_HINT,
                           form=form or PasswordForm(formdata=None)), status


@blueprint.get("/users/<int:user_id>")
def user(user_id: int):
    return _user_page(db.get_or_404(User, user_id))


@blueprint.post("/users/<int:user_id>/<any(deactivate, reactivate):action>")
@transaction
def set_active(user_id: int, action: str):
    account = db.get_or_404(User, user_id)
    back = url_for("admin.user", user_id=account.id) if request.form.get("next") == "user" \
        else url_for("admin.users")
    if account.id == current_user.id and action == "deactivate":
        flash(_("You cannot deactivate yourself; ask another admin."), "error")
        return redirect(back)
    if action == "deactivate":
        asked = confirmation(_("Deactivate %(email)s", email=account.email), [
            _("%(email)s (%(role)s) is signed out everywhere and can no longer sign in or use their API tokens.",
              email=account.email, role=role_title(account.role)),
            _("An admin can reactivate the user later; the sessions ended now stay ended.")],
            back, button=_("Deactivate the user"))
        if asked is not None:
            return asked
    accounts.set_active(db.session, account, action == "reactivate")
    return done(_("%(email)s is active again.", email=account.email) if account.active else
                _("%(email)s is deactivated: they can no longer sign in or use their API tokens.",
                  email=account.email), url=back)


@blueprint.post("/users/<int:user_id>/password")
@transaction
def reset_password(user_id: int):
    account = db.get_or_404(User, user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        with attempt(form):
            accounts.change_password(db.session, account, form.password.data)
            return done(_("The password of %(email)s is changed; they are signed out everywhere.", email=account.email),
                        "admin.user", user_id=account.id)
        account = db.get_or_404(User, user_id)
    return _user_page(account, form, 422)


# --- API tokens --------------------------------------------------------------------------


class TokenForm(FlaskForm):
    name = StringField(_l("Name (what the token is for)"), validators=[
        Length(max=accounts.MAX_TOKEN_NAME, message=_l("A token's name has at most %(max)d characters.")), no_markup()])
    expires = DateField(_l("Expires on (optional)"), validators=[Optional()])


def _tokens_page(account: User | None, form: TokenForm | None = None, new_token: str | None = None,
                 status: int = 200):
    """One user's tokens (``account``), or everyone's (None), newest first, with their status now."""
    statement = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.id.desc())
    if account is not None:
        statement = statement.where(ApiToken.user_id == account.id)
    now = utcnow()
    rows = [(token, accounts.token_status(token, now)) for token in db.session.scalars(statement).all()]
    return render_template("admin/tokens.html", account=account, tokens=rows, new_token=new_token,
                           form=form or TokenForm(formdata=None), statuses=TOKEN_STATUSES), status


TOKEN_STATUSES = {"active": _l("active"), "expired": _l("expired"), "revoked": _l("revoked")}


@blueprint.get("/tokens")
def all_tokens():
    return _tokens_page(None)


@blueprint.get("/users/<int:user_id>/tokens")
def tokens(user_id: int):
    return _tokens_page(db.get_or_404(User, user_id))


@blueprint.post("/users/<int:user_id>/tokens")
@transaction
def create_token(user_id: int):
    """A new token, shown in this response only: it is kept nowhere but as a hash (not in the session)."""
    account = db.get_or_404(User, user_id)
    form = TokenForm()
    if form.validate_on_submit():
        with attempt(form):
            token = accounts.create_token(db.session, account, name=form.name.data or "",
                                          expires_on=form.expires.data, today=today())
            body, _status = _tokens_page(account, new_token=token)
            return body, 201, {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return _tokens_page(account, form, status=422)


@blueprint.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
@transaction
def revoke_token(user_id: int, token_id: int):
    account = db.get_or_404(User, user_id)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != account.id:
        abort(404)
    back = url_for("admin.tokens", user_id=account.id)
    if token.revoked_at is not None:
        return done(_("Token %(prefix)s… was revoked already.") % {"prefix": token.prefix}, url=back)
    named = f"{token.name} ({token.prefix}…)" if token.name else f"{token.prefix}…"
    asked = confirmation(_("Revoke token %(name)s") % {"name": named}, [
        _("Programs using token %(name)s of %(email)s get 401 from now on.") % {"name": named, "email": account.email},
        _("A revoked token cannot be used again; create a new one if it is still needed.")],
        back, button=_("Revoke the token"))
    if asked is not None:
        return asked
    accounts.revoke_token(db.session, token.id)
    return done(_("Token %(name)s is revoked.") % {"name": named}, url=back)


# --- the vendor's profile ------------------------------------------------------------------

#: the profile's fields as the page names them (the issuing refusal names them too)
VENDOR_LABELS = {
    "legal_name": _l("Legal name"), "address": _l("Address"), "country": _l("Country"), "vat_id": _l("VAT / tax ID"),
    "registration": _l("Company registration"), "iban": _l("IBAN"), "bic": _l("BIC"),
    "bank_account": _l("Bank account (where there is no IBAN)"), "email": _l("Billing e-mail"),
    "phone": _l("Phone"), "logo": _l("Logo"),
}
#: the largest upload the profile form reads: a bigger logo still reaches the view, to be refused beside its field
VENDOR_FORM_MAX_BYTES = 4 * profile.LOGO_MAX_BYTES
allow_upload(blueprint, "admin.vendor", VENDOR_FORM_MAX_BYTES)
#: a logo opened on its own runs nothing: no script, no plugin, no fetch (an SVG may hold script)
LOGO_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
LOGO_FILE_NAMES = {"image/png": "logo.png", "image/jpeg": "logo.jpg", "image/svg+xml": "logo.svg"}


class VendorForm(FlaskForm):
    legal_name = StringField(VENDOR_LABELS["legal_name"], validators=[
        DataRequired(_l("Give the vendor's legal name.")), Length(max=200), no_markup()])
    address = TextAreaField(VENDOR_LABELS["address"], validators=[Length(max=1000), no_markup()])
    country = StringField(VENDOR_LABELS["country"], validators=[Length(max=2)])
    vat_id = StringField(VENDOR_LABELS["vat_id"], validators=[Length(max=40), no_markup()])
    registration = StringField(VENDOR_LABELS["registration"], validators=[Length(max=100), no_markup()])
    iban = StringField(VENDOR_LABELS["iban"], validators=[Length(max=50)])
    bic = StringField(VENDOR_LABELS["bic"], validators=[Length(max=20)])
    bank_account = StringField(VENDOR_LABELS["bank_account"], validators=[Length(max=200), no_markup()])
    email = StringField(VENDOR_LABELS["email"], validators=[Length(max=254)])
    phone = StringField(VENDOR_LABELS["phone"], validators=[Length(max=40), no_markup()])
    logo = FileField(VENDOR_LABELS["logo"])

    TEXT = tuple(name for name in VENDOR_LABELS if name != "logo")


def vendor_missing(vendor) -> list[str]:
    """What the vendor's profile lacks for issuing, as the profile page names it ([] when complete)."""
    return [str(VENDOR_LABELS[name]) for name in profile.missing_for_invoicing(vendor)]


def _vendor_page(form: VendorForm, status: int = 200):
    vendor = profile.get_vendor(db.session, current_app.config)
    return render_template("admin/vendor.html", form=form, vendor=vendor, missing=vendor_missing(vendor),
                           max_logo=profile.LOGO_MAX_BYTES // 1024), status


def _typed_profile(form: VendorForm) -> dict:
    """The fields as typed, and the uploaded logo's bytes (read one byte past the limit, no further)."""
    fields = {name: getattr(form, name).data or "" for name in VendorForm.TEXT}
    upload = form.logo.data
    if upload is not None and getattr(upload, "filename", ""):
        fields["logo"] = upload.read(profile.LOGO_MAX_BYTES + 1)
    return fields


@blueprint.route("/vendor", methods=["GET", "POST"])
@transaction
def vendor():
    if request.method == "GET":
        return _vendor_page(VendorForm(obj=profile.get_vendor(db.session, current_app.config)))
    form = VendorForm()
    if form.validate_on_submit():
        errors = save_checked(lambda **some: profile.update_vendor(db.session, current_app.config, **some),
                              _typed_profile(form), {"vat_id": ("country",)})
        if not errors:
            return done(_("The vendor profile is saved; invoices issued from now on print it."),
                        "admin.vendor")
        for error in errors:  # domain errors only: save_checked raises any other
            apply_error(form, error)
    return _vendor_page(form, 422)


@blueprint.get("/vendor/logo")
def vendor_logo():
    """The stored logo's bytes with their media type; opened on its own it can run nothing."""
    saved = profile.get_vendor(db.session, current_app.config)
    if not saved.logo or saved.logo_type not in LOGO_FILE_NAMES:
        abort(404, _("No logo is saved."))
    return current_app.response_class(saved.logo, mimetype=saved.logo_type, headers={
        "Content-Security-Policy": LOGO_CSP, "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{LOGO_FILE_NAMES[saved.logo_type]}"',
        "Cross-Origin-Resource-Policy": "same-origin"})


@blueprint.post("/vendor/logo/remove")
@transaction
def remove_vendor_logo():
    saved = profile.get_vendor(db.session, current_app.config)
    if not saved.logo:
        return done(_("There is no logo to remove."), "admin.vendor")
    asked = confirmation(_("Remove the logo"), [
        _("The logo is deleted from the vendor profile; invoices issued from now on print none."),
        _("Invoices issued already keep the logo they printed.")],
        url_for("admin.vendor"), button=_("Remove the logo"))
    if asked is not None:
        return asked
    profile.update_vendor(db.session, current_app.config, logo=None)
    return done(_("The logo is removed."), "admin.vendor")
