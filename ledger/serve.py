"""The production server: gunicorn with several worker processes."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


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


def serve(host: str, port: int, workers: int) -> None:
    """Serve until interrupted; each worker builds its own app and database connections."""
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
    }).run()
