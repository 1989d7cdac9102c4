"""Load a pydantic-settings class from an optional YAML file plus keyword overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ConfigError(ValueError):
    """A config file could not be read or has wrong keys/values."""


def load_yaml_settings(
    cls: type[SettingsT], config_file: Path | None = None, **overrides: Any
) -> SettingsT:
    """The file's keys, then the environment (by ``cls``), then non-None ``overrides``.

    Any problem is one ``ConfigError`` naming the file and the offending keys.
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{config_file}: cannot read config: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file}: the top level must be a mapping of keys")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        where = f"{config_file}: " if config_file else ""
        raise ConfigError(f"{where}{problems}") from exc
