"""The ``sql`` data source: SQLAlchemy when installed; SQLite also with the standard library.

The plain algorithm image has no SQLAlchemy, so SQLite files are then read with ``sqlite3``
(read-only). The node checks the URL with SQLAlchemy and makes an SQLite path absolute.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vantage6_common.datasources import DataSource, DataSourceError, resolve_path

_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


class SqlSource(DataSource):
    """The rows a query (``{LABEL}_QUERY``, required) returns from an SQL database."""

    name = "sql"
    suffixes = _SQLITE_SUFFIXES

    def check(self, uri: str, base_dir: Path, check_files: bool = True) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(uri)
        except ArgumentError as exc:
            raise DataSourceError(f"{uri!r} is not an SQLAlchemy URL ({exc})") from exc
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = resolve_path(str(url.database), base_dir)
            if check_files and not path.is_file():
                raise DataSourceError(f"sqlite file {str(path)!r} does not exist")
            return str(url.set(database=str(path)).render_as_string(hide_password=False))
        return uri

    def load(self, uri: str, options: Mapping[str, Any]) -> Any:
        query = options.get("query")
        if not query:
            raise DataSourceError(f"A query is required for the sql database {uri!r}")
        try:
            return read_sql(uri, str(query))
        except FileNotFoundError as exc:
            raise DataSourceError(f"Database file not found: {uri}") from exc


def sqlite_path(uri: str) -> str | None:
    """The file path of an SQLite database URI or path, or None if it is not SQLite."""
    if uri.startswith("sqlite:///"):
        # sqlite:///relative.db or sqlite:////absolute/path.db
        return uri[len("sqlite:///") :] or None
    if uri.startswith("sqlite://"):
        return None  # in-memory or unusual form: leave it to SQLAlchemy
    if "://" not in uri and uri.lower().endswith(_SQLITE_SUFFIXES):
        return uri
    return None


def _have_sqlalchemy() -> bool:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        return False
    return True


def read_sql(uri: str, query: str, use_sqlalchemy: bool | None = None) -> Any:
    """Run ``query`` on the database at ``uri`` and return the rows as a DataFrame.

    ``use_sqlalchemy``: None picks SQLAlchemy when it is importable; SQLite works without it.
    """
    import pandas as pd

    if use_sqlalchemy is None:
        use_sqlalchemy = _have_sqlalchemy()
    path = sqlite_path(uri)
    if use_sqlalchemy:
        import sqlalchemy

        url = f"sqlite:///{path}" if path is not None else uri
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as conn:
                result = conn.execute(sqlalchemy.text(query))
                columns = list(result.keys())
                rows = result.fetchall()
        finally:
            engine.dispose()
        return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)
    if path is None:
        raise DataSourceError(
            f"SQLAlchemy is not installed, so only SQLite databases can be read (got {uri!r})"
        )
    if not Path(path).exists():
        raise FileNotFoundError(path)
    # read-only: an algorithm has no business changing the node's data
    conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    try:
        cursor = conn.execute(query)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    finally:
        conn.close()
    return pd.DataFrame.from_records(rows, columns=columns)
