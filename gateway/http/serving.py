"""Running the gateway under gunicorn, from ``gateway serve`` or a gunicorn config file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from gateway.config.settings import Settings
from gateway.http.bodylimit import gunicorn_pre_request
from gateway.observe.logs import JsonFormatter

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Gunicorn's worker timeout must exceed the gateway's own worst case (hash slot wait 10 s,
# database connect 3 s + statement 5 s) and stay far below the Registry's 100 s.
WORKER_TIMEOUT_SECONDS = 30


def gunicorn_options(settings: Settings) -> dict:
    """The gunicorn settings the gateway is sized and timed for.

    GATEWAY_WORKERS processes (by default one per CPU core, see :mod:`gateway.config.settings`) share
    short-lived state (throttle counters, single-use marks) through Redis, or without Redis
    through a SQLite file of this machine (:mod:`gateway.storage.state.sqlite`).
    """
    return {
        "bind": settings.bind,
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        "timeout": WORKER_TIMEOUT_SECONDS,
        # In-flight logins finish on shutdown (the worst case is about 20-25 s, README "Time
        # budget"); what stops the process waits longer (45 s in deploy/).
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "accesslog": None,
        "logger_class": JsonGunicornLogger,
        # Lets a refused body's answer close the connection and say so (gateway.http.bodylimit).
        "pre_request": gunicorn_pre_request,
        "on_exit": _remove_own_metrics_dir,
        **_container_friendly_options(),
    }


def _container_friendly_options() -> dict[str, object]:
    """Settings for a read-only or disk-backed root file system, where gunicorn knows them.

    Worker heartbeats go to a RAM file system (a heartbeat's fchmod on a slow disk can stall a
    worker); gunicorn >= 25.1's control socket, unused here, would be opened under $HOME.
    """
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    options: dict[str, object] = {}
    if "control_socket_disable" in known:
        options["control_socket_disable"] = True
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        options["worker_tmp_dir"] = "/dev/shm"
    return options


def prepare_metrics_dir() -> Path:
    """Give this server's workers one directory to share metric values through (see
    :mod:`gateway.observe.metrics`), emptied of a previous run's values.

    Must run in the gunicorn master before anything imports prometheus_client: the library
    picks its storage when first imported. Uses ``PROMETHEUS_MULTIPROC_DIR`` when set (on
    Kubernetes, an emptyDir), else a new private temporary directory. A reload (SIGHUP reads
    the configuration file again in the same master) keeps the directory and its values.
    """
    global _prepared
    if _prepared is not None and _prepared[0] == os.getpid():
        return _prepared[1]
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        global _own_metrics_dir
        directory = _own_metrics_dir = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
        os.environ[METRICS_DIR_ENV] = str(directory)
    _prepared = (os.getpid(), directory)
    return directory


_prepared: tuple[int, Path] | None = None
_own_metrics_dir: Path | None = None


def _remove_own_metrics_dir(_server) -> None:
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)


class JsonGunicornLogger(Logger):
    """Gunicorn's own messages (worker boots, timeouts, signals) as the same JSON lines as
    the gateway's."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(JsonFormatter())


class GatewayServer(BaseApplication):
    """Gunicorn with the gateway app; each worker builds its own app (own DB pool) by calling
    ``make_app``."""

    def __init__(self, settings: Settings, make_app: Callable[[], Flask]):
        self._settings = settings
        self._make_app = make_app
        super().__init__()

    def load_config(self):
        for key, value in gunicorn_options(self._settings).items():
            self.cfg.set(key, value)

    def load(self):
        return self._make_app()
