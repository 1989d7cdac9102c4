"""``python -m vantage6_server``: run the server with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from vantage6_server.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vantage6_server", description="Run the vantage6-compatible server"
    )
    parser.add_argument("--config", type=Path, help="YAML config file")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7601)")
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
    from vantage6_server.app import create_app
    from vantage6_server.storage import StorageError

    try:
        app = create_app(settings)
    except StorageError as exc:
        print(f"error: large_result_store: {exc}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
