"""Alembic environment of the store: migrations run on the connection migrate.py hands over."""

from vantage6_common.service.migrate import run_migrations
from vantage6_store.db.models import Base

run_migrations(Base.metadata, version_table="store_alembic_version")
