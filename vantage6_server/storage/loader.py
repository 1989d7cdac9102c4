"""Find the installed storage backends (entry point group ``vantage6.storage``) and build one.

A third party adds a backend by installing a package that registers, in that group, a
:class:`~vantage6_server.storage.base.StorageBackend` subclass under the name administrators
write as ``large_result_store.type`` (the key vantage6 4.13+ uses for its Azure store).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from vantage6_server.storage.base import (
    StorageBackend,
    StorageConfigError,
    StorageContext,
    StorageSettings,
)

ENTRY_POINT_GROUP = "vantage6.storage"

# The server config key holding the backend's name (``type``) and its settings (4.14's name).
CONFIG_KEY = "large_result_store"


class UnknownStorage(StorageConfigError, LookupError):
    """No storage backend registered under the requested name."""


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names of the installed storage backends, sorted."""
    return sorted(_entry_points())


def backend_class(name: str) -> type[StorageBackend]:
    """The backend class registered as ``name``; :class:`UnknownStorage` if there is none."""
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "(none registered: is the project installed?)"
        raise UnknownStorage(
            f"unknown storage backend {name!r}; available: {known} "
            f"(entry point group {ENTRY_POINT_GROUP!r})"
        )
    try:
        cls = ep.load()
    except ImportError as exc:
        raise StorageConfigError(f"storage backend {name!r} cannot be imported: {exc}") from exc
    if not (
        isinstance(cls, type)
        and issubclass(cls, StorageBackend)
        and isinstance(getattr(cls, "Settings", None), type)
        and issubclass(cls.Settings, StorageSettings)
    ):
        raise UnknownStorage(
            f"entry point {name!r} ({ep.value}) does not name a StorageBackend subclass "
            "with a Settings model"
        )
    return cls


def settings_schemas() -> dict[str, type[StorageSettings]]:
    """Each installed backend's settings model, by name (for ``v6 server new``)."""
    return {name: backend_class(name).Settings for name in available_backends()}


def parse_settings(name: str, values: Mapping[str, Any]) -> StorageSettings:
    """Validate ``values`` against backend ``name``'s settings; one-line error when wrong."""
    model = backend_class(name).Settings
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or name}: {err['msg']}" for err in exc.errors()
        )
        raise StorageConfigError(f"{CONFIG_KEY} ({name}): {problems}") from exc


def load_storage(
    name: str, values: Mapping[str, Any] | StorageSettings, context: StorageContext
) -> StorageBackend:
    """Build backend ``name`` from its settings (a mapping is validated first)."""
    cls = backend_class(name)
    settings = values if isinstance(values, StorageSettings) else parse_settings(name, values)
    if not isinstance(settings, cls.Settings):
        raise StorageConfigError(
            f"settings for {name!r} must be {cls.Settings.__name__}, not {type(settings).__name__}"
        )
    return cls(settings, context)


def storage_from_config(section: Mapping[str, Any], context: StorageContext) -> StorageBackend:
    """Build the backend a ``large_result_store`` config section describes.

    ``type`` names the backend (``filesystem`` when absent); every other key is one of its
    settings, so a vantage6 4.13+ Azure section (``type: azure``, ``container_name``,
    ``connection_string`` or the service principal keys) is taken as it is.
    """
    if not isinstance(section, Mapping):
        raise StorageConfigError(f"{CONFIG_KEY} must be a mapping of settings")
    values = dict(section)
    name = values.pop("type", "filesystem")
    if not isinstance(name, str) or not name:
        raise StorageConfigError(f"{CONFIG_KEY}.type must name a storage backend")
    return load_storage(name, values, context)
