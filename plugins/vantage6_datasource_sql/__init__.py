"""SQL databases as a node data source (type ``sql``): an SQLAlchemy URL and a query."""

from vantage6_datasource_sql.source import SqlSource, read_sql, sqlite_path

__all__ = ["SqlSource", "read_sql", "sqlite_path"]
