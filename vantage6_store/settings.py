"""Store settings: YAML config file, environment variables (``V6_STORE_``) and defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from vantage6_common.service.settings import ServiceSettings
from vantage6_common.settings_file import ConfigError, load_yaml_settings

__all__ = ["ConfigError", "StoreSettings", "load_settings"]


class ServerUser(BaseModel):
    """A user of a vantage6 server, named in a policy list."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1)
    server: str = Field(min_length=1)


class StorePolicies(BaseModel):
    """The administrator's policies (keys and defaults as in vantage6's store 4.x)."""

    model_config = ConfigDict(extra="forbid")
    algorithm_view: Literal["public", "whitelisted", "private"] = "whitelisted"
    allowed_servers: list[str] | None = Field(
        None, description="servers that may be whitelisted; unset: any server"
    )
    allow_localhost: bool = False
    min_reviewers: int = Field(2, ge=1, le=100)
    min_reviewing_organizations: int = Field(2, ge=1, le=100)
    assign_review_own_algorithm: bool = False
    allowed_reviewers: list[ServerUser] | None = None
    allowed_review_assigners: list[ServerUser] | None = None


class RootUser(BaseModel):
    """The first administrator: whitelists their server and gets the Root role at start."""

    model_config = ConfigDict(extra="forbid")
    v6_server_uri: str = Field(min_length=1)
    username: str = Field(min_length=1)
    email: str | None = None
    organization_id: int | None = None


class StoreSettings(ServiceSettings):
    """Everything the store needs to start (the shared ones from ``ServiceSettings``).

    Unknown keys in a config file are errors.
    """

    model_config = SettingsConfigDict(env_prefix="V6_STORE_", extra="forbid")

    port: int = Field(7602, ge=1, le=65535)
    database_uri: str = "sqlite:///vantage6-store.sqlite"
    root_user: RootUser | None = None
    policies: StorePolicies = StorePolicies()
    digest_resolver: str = Field(
        "registry",
        description="'registry' (ask the image's registry), 'none', or 'module:function'",
    )
    server_timeout: float = Field(10.0, gt=0, description="seconds to wait for a v6 server")


def load_settings(config_file: Path | None = None, **overrides) -> StoreSettings:
    """Settings from an optional YAML file, then the environment, then overrides."""
    return load_yaml_settings(StoreSettings, config_file, **overrides)
