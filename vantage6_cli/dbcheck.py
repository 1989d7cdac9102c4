"""Is a server's or store's database URI usable? Checked by ``v6 server new`` and ``v6 store
new`` (while asking) and before they start, so that a wrong or unreachable database is one line,
not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

EXAMPLES = "e.g. sqlite:////path/to/server.sqlite or postgresql://user:password@host/db"


def database_problem(uri: str, base_dir: Path | None = None, timeout: int = 5) -> str | None:
    """What is wrong with ``uri`` (in one line), or None when the database answers.
    A relative SQLite path is taken from ``base_dir`` (the instance's data folder)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        url = make_url(str(uri).strip())
    except ArgumentError:
        return f"{uri!r} is not a database URI ({EXAMPLES})"
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_problem(url.database, base_dir)
    if backend == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # as the server does
    shown = url.render_as_string(hide_password=True)
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    connect_args = {"connect_timeout": timeout} if backend in ("postgresql", "mysql") else {}
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        return f"{shown}: unknown database type {url.drivername!r} ({EXAMPLES})"
    except ModuleNotFoundError as exc:
        return f"{shown}: the driver for {backend} is not installed ({exc.name})"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"cannot connect to the database {shown}: {reason[0] if reason else exc}"
    finally:
        engine.dispose()
    return None


def _sqlite_problem(database: str | None, base_dir: Path | None) -> str | None:
    if not database or database == ":memory:":
        return "an in-memory SQLite database loses everything when it stops; give a file"
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if path.is_dir():
        return f"{path} is a folder, not a database file"
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        return f"{path} cannot be created: {folder} is not a writable folder"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable for you"
    return None
