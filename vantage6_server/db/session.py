"""Engine and session factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from vantage6_server.db.sqlite_writes import serialize_writes


def make_engine(uri: str) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a thread-safe pool."""
    if uri.startswith("sqlite"):
        # as many pooled connections as request threads at a burst (each new one costs a
        # connect and the pragmas below; overflow connections are not kept)
        in_memory = uri in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            uri,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({} if in_memory else {"pool_size": 20, "max_overflow": 40}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        if not in_memory:
            serialize_writes(engine)
        return engine
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    return create_engine(uri, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """The engine plus a session factory."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine = make_engine(uri)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()
