"""Apply a service's Alembic migrations at start (and generate new ones during development)."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine


def alembic_config(migrations_dir: Path, uri: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", uri.replace("%", "%%"))
    return config


class MigrationError(RuntimeError):
    """A migration left the database inconsistent (it was rolled back)."""


def upgrade_to_head(migrations_dir: Path, engine: Engine) -> None:
    """Bring the database schema to the newest revision.

    On SQLite, foreign keys are off while migrations run (a table rebuild drops the old table,
    which would cascade-delete the rows that refer to it) and checked before the commit.
    """
    config = alembic_config(migrations_dir, str(engine.url))
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


def run_migrations(metadata: MetaData, version_table: str = "alembic_version") -> None:
    """The body of a migrations folder's ``env.py``: run on the connection handed over by
    ``upgrade_to_head``, or on a new one to the configured URL (Alembic's own command line)."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection, metadata, version_table)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as new_connection:
        _run(new_connection, metadata, version_table)


def _run(connection: Connection, metadata: MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table=version_table,
    )
    with context.begin_transaction():
        context.run_migrations()


def new_revision(migrations_dir: Path, argv: list[str] | None = None) -> None:
    """Developer tool: ``python -m <service>.db.migrate URI MESSAGE`` autogenerates a revision
    from the models."""
    uri, message = (argv if argv is not None else sys.argv[1:])[:2]
    command.revision(alembic_config(migrations_dir, uri), message=message, autogenerate=True)
