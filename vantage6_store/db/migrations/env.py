"""Alembic environment of the store: migrations run on the connection migrate.py hands over."""

from alembic import context
from sqlalchemy import create_engine

from vantage6_store.db.models import Base


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table="store_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).connect() as conn:
        _run(conn)
else:
    _run(connection)
