"""Pages. The signed-in web app grows here; for now a front page and a health check."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Flask, render_template
from sqlalchemy import text

from ..extensions import db, login_manager
from ..models import User

blueprint = Blueprint("web", __name__)


@blueprint.get("/")
def index():
    return render_template("web/index.html")


@blueprint.get("/healthz")
def healthz():
    """Ready when the database answers: used by process managers and the served-app tests."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user of a session cookie, if still active."""
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.add_template_filter(date.fromisoformat, "as_date")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        return response
