"""Excel workbooks as a node data source (type ``excel``; needs openpyxl for .xlsx)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vantage6_common.datasources import DataSource, DataSourceError


class ExcelSource(DataSource):
    """One sheet of an Excel workbook: ``sheet_name`` (a name or index), else the first."""

    name = "excel"
    file_based = True
    suffixes = (".xlsx", ".xls")

    def load(self, uri: str, options: Mapping[str, Any]) -> Any:
        import pandas as pd

        sheet = options.get("sheet_name")
        try:
            return pd.read_excel(uri, sheet_name=0 if sheet in (None, "") else sheet)
        except FileNotFoundError as exc:
            raise DataSourceError(f"Database file not found: {uri}") from exc
        except ValueError as exc:  # e.g. "Worksheet named 'x' not found"
            raise DataSourceError(f"Cannot read {uri}: {exc}") from exc


__all__ = ["ExcelSource"]
