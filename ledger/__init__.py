"""Support Ledger: billing for support vendors."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from . import config


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints."""
    instance_path = os.environ.get("LEDGER_INSTANCE_PATH") or str(config.PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(config.PROJECT_ROOT / "templates"),
        static_folder=str(config.PROJECT_ROOT / "ledger" / "static"),
    )
    app.config.from_mapping(config.defaults(Path(app.instance_path)))
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config.from_environment())
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.instance_secret_key(Path(app.instance_path))

    from .extensions import csrf, db, login_manager

    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        from .db import configure_engine

        configure_engine(db.engine)

    from . import api, bench_endpoints, health, observability, web

    observability.init_app(app)  # first: every other hook's log lines carry the request id
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api.blueprint)
    web.init_app(app)
    bench_endpoints.init_app(app)  # only with LEDGER_BENCH_ENDPOINTS=1
    return app
