"""``python -m vantage6_store`` (or ``v6-store``): run the algorithm store with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from vantage6_store.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="v6-store", description="Run the vantage6-compatible algorithm store"
    )
    parser.add_argument("--config", type=Path, help="YAML config file")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7602)")
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
        from vantage6_store.app import create_app
        from vantage6_store.digest import load_resolver

        load_resolver(settings.digest_resolver)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
