"""``python -m vantage6_server``: run the server with uvicorn."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from vantage6_common.service.runner import StartupError, run_service
from vantage6_server.settings import ServerSettings, load_settings

if TYPE_CHECKING:
    from vantage6_server.api.headers import SecurityHeaders


def build_app(settings: ServerSettings) -> SecurityHeaders:
    """The server's ASGI app; a large result store that cannot be set up stops the start."""
    from vantage6_server.app import create_app
    from vantage6_server.storage import StorageError

    try:
        return create_app(settings)
    except StorageError as exc:
        raise StartupError(f"large_result_store: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    return run_service(
        argv,
        prog="python -m vantage6_server",
        description="Run the vantage6-compatible server",
        default_port=7601,
        load_settings=load_settings,
        build_app=build_app,
    )


if __name__ == "__main__":
    sys.exit(main())
