"""Alembic environment of the server: migrations run on the connection migrate.py hands over."""

from vantage6_common.service.migrate import run_migrations
from vantage6_server.db.models import Base

run_migrations(Base.metadata)
