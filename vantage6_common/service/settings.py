"""The settings every service has: where it listens, its database, CORS and log level."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of a service's settings (each sets its ``env_prefix`` and defaults)."""

    model_config = SettingsConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(7601, ge=1, le=65535)
    api_path: str = "/api"
    database_uri: str = "sqlite:///vantage6.sqlite"
    cors_origins: list[str] = ["*"]
    log_level: str = "info"

    @field_validator("api_path")
    @classmethod
    def _api_path_starts_with_slash(cls, value: str) -> str:
        return "/" + value.strip("/")
