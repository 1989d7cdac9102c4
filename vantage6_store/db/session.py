"""Engine and session factory for the store's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(uri: str) -> Engine:
    """An engine; SQLite gets foreign keys and WAL, PostgreSQL the psycopg 3 driver."""
    if uri.startswith("sqlite"):
        engine = create_engine(uri, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    return create_engine(uri, pool_pre_ping=True)


class Database:
    """The engine plus a session factory."""

    def __init__(self, uri: str) -> None:
        self.engine = make_engine(uri)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()
