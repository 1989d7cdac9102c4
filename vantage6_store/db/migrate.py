"""Bring the store's schema to the newest Alembic revision at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(uri: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", uri.replace("%", "%%"))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Run every pending migration in one transaction on ``engine``."""
    config = alembic_config(str(engine.url))
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


if __name__ == "__main__":  # pragma: no cover - developer tool: new revision from the models
    import sys

    command.revision(alembic_config(sys.argv[1]), message=sys.argv[2], autogenerate=True)
