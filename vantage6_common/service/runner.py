"""A service's command line: read the settings, build the ASGI app, serve it with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from vantage6_common.service.settings import ServiceSettings
from vantage6_common.settings_file import ConfigError

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


class StartupError(Exception):
    """The service cannot start; the message is printed as one line and the exit code is 2."""


def run_service(
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    default_port: int,
    load_settings: Callable[..., SettingsT],
    build_app: Callable[[SettingsT], Any],
) -> int:
    """Parse ``argv``, load the settings (file, environment, options) and serve the app.

    ``build_app`` runs after logging is set up and may raise ``StartupError``.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", type=Path, help="YAML config file")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port (default {default_port})")
    parser.add_argument("--database-uri", help="SQLAlchemy URI (default sqlite file)")
    parser.add_argument("--log-level", default=None)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            args.config,
            host=args.host,
            port=args.port,
            database_uri=args.database_uri,
            log_level=args.log_level,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = build_app(settings)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0
