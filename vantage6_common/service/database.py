"""Engine and session factory of a service's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

#: run on a new engine for a SQLite file (e.g. to queue writers in the process)
SqliteFileHook = Callable[[Engine], object]


def make_engine(uri: str, on_sqlite_file: SqliteFileHook | None = None) -> Engine:
    """An engine; SQLite gets foreign keys, WAL and a thread-safe pool, PostgreSQL psycopg 3."""
    if uri.startswith("sqlite"):
        # as many pooled connections as request threads at a burst (each new one costs a
        # connect and the pragmas below; overflow connections are not kept)
        in_memory = uri in ("sqlite://", "sqlite:///:memory:")
        pool: dict[str, Any] = {} if in_memory else {"pool_size": 20, "max_overflow": 40}
        engine = create_engine(
            uri, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        if not in_memory and on_sqlite_file is not None:
            on_sqlite_file(engine)
        return engine
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    return create_engine(uri, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """The engine plus a session factory."""

    def __init__(self, uri: str, on_sqlite_file: SqliteFileHook | None = None) -> None:
        self.uri = uri
        self.engine = make_engine(uri, on_sqlite_file)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()
