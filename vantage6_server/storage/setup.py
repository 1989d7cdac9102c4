"""The server's blob store: built from the ``large_result_store`` section of its settings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from vantage6_server.settings import ServerSettings
from vantage6_server.storage.base import StorageBackend, StorageContext
from vantage6_server.storage.loader import storage_from_config


def server_data_dir(settings: ServerSettings) -> Path:
    """The folder of the server's SQLite file, or the working folder for other databases."""
    url = make_url(settings.database_uri)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().absolute().parent
    return Path.cwd()


def build_storage(settings: ServerSettings) -> StorageBackend | None:
    """The configured backend, checked to work; ``None`` when no store is configured."""
    if settings.large_result_store is None:
        return None
    backend = storage_from_config(
        settings.large_result_store, StorageContext(data_dir=server_data_dir(settings))
    )
    backend.check()
    return backend
