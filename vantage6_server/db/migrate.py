"""Apply Alembic migrations at start (and generate new ones during development)."""

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


class MigrationError(RuntimeError):
    """A migration left the database inconsistent (it was rolled back)."""


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database schema to the newest revision.

    On SQLite, foreign keys are off while migrations run (a table rebuild drops the old table,
    which would cascade-delete the rows that refer to it) and checked before the commit.
    """
    config = alembic_config(str(engine.url))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # outside any transaction: SQLite ignores this pragma inside one
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(f"foreign keys broken by a migration: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if __name__ == "__main__":  # pragma: no cover - developer tool
    import sys

    command.revision(alembic_config(sys.argv[1]), message=sys.argv[2], autogenerate=True)
