"""Server settings: YAML config file, environment variables (``V6_``) and defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import SettingsConfigDict

from vantage6_common.service.settings import ServiceSettings
from vantage6_common.settings_file import ConfigError, load_yaml_settings

__all__ = ["ConfigError", "ServerSettings", "load_settings"]


class SmtpSettings(BaseModel):
    """Outgoing mail for password and 2FA recovery."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    sender: str = "noreply@vantage6.local"


class ServerSettings(ServiceSettings):
    """Everything the server needs to start (the shared ones from ``ServiceSettings``).

    Unknown keys in a config file are errors.
    """

    model_config = SettingsConfigDict(env_prefix="V6_", extra="forbid")

    jwt_secret: str | None = Field(
        None, description="HS256 secret; generated and kept in the database when unset"
    )
    access_token_minutes: int = Field(360, ge=1)
    refresh_token_minutes: int = Field(2880, ge=1)
    max_failed_attempts: int = Field(5, ge=1)
    inactivation_minutes: int = Field(15, ge=1)
    two_factor_auth: bool = False
    recovery_token_minutes: int = Field(60, ge=1)
    rate_limit_auth: str = Field(
        "60/minute",
        description="per client address and endpoint: logins, refresh, password change and "
        "resets (e.g. '60/minute;600/hour'; empty: no limit)",
    )
    rate_limit_recover: str = Field(
        "5/minute;30/hour", description="per client address: recovery mails asked for"
    )
    rate_limit_recover_target: str = Field(
        "3/hour", description="per account named: recovery mails sent (more are not sent)"
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    node_offline_seconds: int = Field(180, ge=5)
    server_name: str = "vantage6"
    smtp: SmtpSettings | None = None
    rabbitmq_uri: str | None = None
    large_result_store: dict[str, Any] | None = Field(
        None,
        description="blob store for large inputs and results: 'type' (a backend of the "
        "vantage6.storage entry points) and its settings; none: kept in the database",
    )

    @field_validator("rate_limit_auth", "rate_limit_recover", "rate_limit_recover_target")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from vantage6_server.security.ratelimit import parse_limit

        parse_limit(value)  # ValueError names the problem
        return value.strip()


def load_settings(config_file: Path | None = None, **overrides: Any) -> ServerSettings:
    """Read settings from an optional YAML file, then the environment, then overrides."""
    return load_yaml_settings(ServerSettings, config_file, **overrides)
