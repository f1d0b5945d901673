"""The production server: gunicorn with several worker processes."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from .db import hold_in_use, sqlite_path


class LedgerServer(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        return create_app()


def _hold_in_use(worker) -> None:
    """Each worker says "in use" on its own connection (a restore refuses until it stops)."""
    hold_in_use(worker.app.wsgi().config["SQLALCHEMY_DATABASE_URI"])


def serve(host: str, port: int, workers: int, database_url: str) -> None:
    """Serve until interrupted; each worker builds its own app and database connections."""
    if sqlite_path(database_url) is not None:
        hold_in_use(database_url)  # a lock file's lock is safe to inherit across the fork
    LedgerServer({
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 2,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "forwarded_allow_ips": "127.0.0.1",
        # One shared control-socket path per user would make two servers on a host collide.
        "control_socket_disable": True,
        # Import the app (and WeasyPrint) once in the master; workers fork ready to serve.
        "preload_app": True,
        "post_worker_init": _hold_in_use,
    }).run()
