"""CSV files as a node data source (type ``csv``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vantage6_common.datasources import DataSource, DataSourceError


class CsvSource(DataSource):
    """A CSV file, read with pandas; floats are parsed exactly as written."""

    name = "csv"
    file_based = True
    suffixes = (".csv",)

    def load(self, uri: str, options: Mapping[str, Any]) -> Any:
        import pandas as pd

        # pandas < 3 (e.g. Debian's 1.5) may be off by one ulp unless asked for "round_trip";
        # pandas 3 is exact by default and deprecates the option
        extra = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        try:
            return pd.read_csv(uri, **extra)
        except FileNotFoundError as exc:
            raise DataSourceError(f"Database file not found: {uri}") from exc


__all__ = ["CsvSource"]
