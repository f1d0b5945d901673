"""The pages: sign-in, account managers, the client portal, finance and admin."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..extensions import db, login_manager
from ..models import User
from ..services.users import live_session
from . import auth, boundary, common, language

blueprint = Blueprint("web", __name__)


@blueprint.get("/")
def index():
    return redirect(auth.home_for(current_user) if current_user.is_authenticated else url_for("auth.sign_in"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user of a session cookie, while its server-side session lives and the user is active."""
    found = live_session(db.session, session.get(auth.SESSION_KEY) or "")
    if found is None or str(found.user_id) != user_id:
        return None
    g.web_session = found
    return found.user


class SessionInterface(SecureCookieSessionInterface):
    """Session cookies are Secure whenever the request came over HTTPS (or a proxy says so)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


#: the titles of the error pages people meet, for the catalogues (Werkzeug names them in English)
HTTP_TITLES = (common.N_("Bad Request"), common.N_("Unauthorized"), common.N_("Forbidden"), common.N_("Not Found"),
               common.N_("Method Not Allowed"), common.N_("Conflict"), common.N_("Request Entity Too Large"),
               common.N_("Unprocessable Entity"), common.N_("Too Many Requests"), common.N_("Internal Server Error"))

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def init_app(app: Flask) -> None:
    from ..api import MAX_ID
    from ..api import blueprint as api
    from ..api import http_error as api_error
    from . import account, admin, audit, finance, manager, outbox, plans, portal, receivables, reconciliation

    for module in (auth, manager, portal, finance, receivables, reconciliation, plans, outbox, admin, account, audit):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(blueprint)
    app.session_interface = SessionInterface()
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = common.N_("Sign in to see that page.")
    login_manager.localize_callback = _  # flashed in the page's language
    app.add_template_filter(date.fromisoformat, "as_date")
    app.add_template_filter(common.plain_number, "plain")
    language.init_app(app)  # the i18n extension, with gettext in the page's language
    app.jinja_env.globals.update(
        once_field=boundary.once_field, money=common.money, money_amount=common.money_amount,
        long_date=common.long_date, when=common.local_when, hours=common.hours, local_when=common.local_when,
        label=common.label, role_title=common.role_title, viewer_zone=common.viewer_zone,
        rate_card_titles=common.rate_card_titles, support_plan_of=plans.plan_name,
    )

    @app.before_request
    def refuse_impossible_identifiers():
        """A page path naming no possible row (a NUL byte, an id past the database's range) is a 404."""
        if request.blueprint == api.name:
            return  # the API answers these itself, with the field named
        for value in (request.view_args or {}).values():
            if (isinstance(value, str) and "\x00" in value) or (isinstance(value, int) and not 0 < value <= MAX_ID):
                abort(404)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.blueprint != api.name and request.endpoint != "static":
            # pages and documents name clients and amounts: no browser or proxy keeps a copy
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/error.html", code=400, title=_("Form expired"),
                               message=_("The form was missing its security token or it expired. "
                                         "Go back, reload the page and try again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            return api_error(error)
        if error.code is None or error.code < 400:  # a redirect, not an error
            return error
        return render_template("errors/error.html", code=error.code, title=_(error.name),
                               message=error.description), error.code
