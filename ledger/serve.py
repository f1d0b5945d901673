"""The production server: gunicorn with several worker processes, JSON logs and shared metrics."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from . import metrics, observability
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


class JsonAccessLogger(Logger):
    """gunicorn's logger with its access lines as structured JSON fields (not one formatted string)."""

    def access(self, resp, req, environ, request_time) -> None:
        headers = {name.lower(): value for name, value in resp.headers}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        extra = {
            "remote_addr": environ.get("REMOTE_ADDR"), "method": req.method, "path": req.path,
            "query": req.query, "status": int(status), "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        request_id = headers.get(observability.HEADER.lower())
        if request_id is not None:
            extra["request_id"] = request_id
        try:
            self.access_log.info("access", extra=extra)
        except Exception:  # noqa: BLE001 - a log line must never fail a request
            self.error("failed to log an access line")


def _hold_in_use(worker) -> None:
    """Each worker says "in use" on its own connection (a restore refuses until it stops)."""
    hold_in_use(worker.app.wsgi().config["SQLALCHEMY_DATABASE_URI"])


def _child_exit(_server, worker) -> None:
    """A worker that died stops counting in the live gauges (its counters are kept)."""
    metrics.worker_exited(worker.pid)


def metrics_folder() -> str:
    """``PROMETHEUS_MULTIPROC_DIR`` if the operator set one (emptied at start), else a new temporary folder."""
    folder = os.environ.get(metrics.MULTIPROC_DIR)
    if not folder:
        folder = tempfile.mkdtemp(prefix="ledger-metrics-")
        owner = os.getpid()  # forked workers inherit the hook: only the master removes the folder
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
    metrics.prepare_multiprocess_dir(folder)
    return folder


def serve(host: str, port: int, workers: int, database_url: str) -> None:
    """Serve until interrupted; each worker builds its own app and database connections."""
    if sqlite_path(database_url) is not None:
        hold_in_use(database_url)  # a lock file's lock is safe to inherit across the fork
    metrics_folder()  # before the app loads: prometheus-client picks its storage from it
    observability.install_record_factory()
    LedgerServer({
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": 2,
        "timeout": 60, "graceful_timeout": 10,
        # access lines go through logconfig_dict's JSON handler (JsonAccessLogger.access)
        "logger_class": JsonAccessLogger,
        "logconfig_dict": observability.logging_config(os.environ.get("LEDGER_LOG_LEVEL", "INFO")),
        "forwarded_allow_ips": "127.0.0.1",
        # One shared control-socket path per user would make two servers on a host collide.
        "control_socket_disable": True,
        # Import the app (and WeasyPrint) once in the master; workers fork ready to serve.
        "preload_app": True,
        "post_worker_init": _hold_in_use,
        "child_exit": _child_exit,
    }).run()
