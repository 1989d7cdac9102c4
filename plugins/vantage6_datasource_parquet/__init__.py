"""Parquet files as a node data source (type ``parquet``; needs pyarrow)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vantage6_common.datasources import DataSource, DataSourceError


class ParquetSource(DataSource):
    """A Parquet file, read with pandas (through pyarrow)."""

    name = "parquet"
    file_based = True
    suffixes = (".parquet",)

    def load(self, uri: str, options: Mapping[str, Any]) -> Any:
        import pandas as pd

        try:
            return pd.read_parquet(uri)
        except FileNotFoundError as exc:
            raise DataSourceError(f"Database file not found: {uri}") from exc


__all__ = ["ParquetSource"]
