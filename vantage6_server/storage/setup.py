"""The server's blob store: built from the ``large_result_store`` section of its settings.

Besides ``type`` and the backend's own settings the section holds what the server does with
blobs (:class:`BlobPolicy`); those keys are taken out before the backend sees the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import make_url

from vantage6_server.settings import ServerSettings
from vantage6_server.storage.base import StorageBackend, StorageConfigError, StorageContext
from vantage6_server.storage.loader import CONFIG_KEY, storage_from_config

MIB = 1024 * 1024


class BlobPolicy(BaseModel):
    """Lifecycle and quota of blobs (keys of ``large_result_store`` next to the backend's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    quota_mib_per_collaboration: float | None = Field(
        None, gt=0, description="most MiB of blobs one collaboration may keep (none: no quota)"
    )
    orphan_upload_minutes: float = Field(
        1440, gt=0, description="uploads never attached to a task or run are deleted after this"
    )
    sweep_interval_minutes: float = Field(60, gt=0, description="how often the orphan sweep runs")

    @property
    def quota_bytes(self) -> int | None:
        q = self.quota_mib_per_collaboration
        return None if q is None else int(q * MIB)


POLICY_KEYS = frozenset(BlobPolicy.model_fields)


def blob_policy(settings: ServerSettings) -> BlobPolicy:
    """The policy part of ``large_result_store`` (defaults when there is none)."""
    section = settings.large_result_store or {}
    try:
        return BlobPolicy.model_validate({k: v for k, v in section.items() if k in POLICY_KEYS})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StorageConfigError(f"{CONFIG_KEY}: {problems}") from exc


def backend_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` without the server's policy keys: what the backend is built from."""
    return {k: v for k, v in section.items() if k not in POLICY_KEYS}


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
    blob_policy(settings)  # a bad policy value stops the start too
    backend = storage_from_config(
        backend_section(settings.large_result_store),
        StorageContext(data_dir=server_data_dir(settings)),
    )
    backend.check()
    return backend
