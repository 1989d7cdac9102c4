"""``python -m vantage6_store`` (or ``v6-store``): run the algorithm store with uvicorn."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from vantage6_common.service.runner import StartupError, run_service
from vantage6_store.app import create_app  # before logging is set up: its imports log
from vantage6_store.digest import load_resolver
from vantage6_store.settings import StoreSettings, load_settings


def build_app(settings: StoreSettings) -> FastAPI:
    """The store's app; a ``digest_resolver`` that names nothing stops the start."""
    try:
        load_resolver(settings.digest_resolver)
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    return create_app(settings)


def main(argv: list[str] | None = None) -> int:
    return run_service(
        argv,
        prog="v6-store",
        description="Run the vantage6-compatible algorithm store",
        default_port=7602,
        load_settings=load_settings,
        build_app=build_app,
    )


if __name__ == "__main__":
    sys.exit(main())
