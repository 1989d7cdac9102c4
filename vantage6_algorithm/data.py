"""Loading a node's databases into pandas DataFrames.

The loader for each type (the node's ``{LABEL}_DATABASE_TYPE``) is a data source plugin
(entry point group ``vantage6.data_sources``, see :mod:`vantage6_common.datasources`); the
built-in ones are ``csv``, ``parquet``, ``excel`` and ``sql``. Preprocessing steps
(``{LABEL}_PREPROCESSING``) are applied here, after loading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from vantage6_algorithm.util import AlgorithmError
from vantage6_common.datasources import (
    DataSourceError,
    UnknownDataSource,
    available_data_sources,
    data_source,
)


def load_data(
    database_uri: str | os.PathLike,
    db_type: str | None = "csv",
    query: str | None = None,
    sheet_name: str | int | None = None,
    preprocessing: list[dict] | str | None = None,
    parameters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read one database as a DataFrame and apply any preprocessing steps.

    ``parameters``: the database's extra settings (``{LABEL}_DB_PARAM_{KEY}``), by lower-case
    key, handed to the loader with ``query`` and ``sheet_name``.
    """
    kind = (db_type or "csv").lower()
    uri = os.fspath(database_uri)
    try:
        source = data_source(kind)
    except UnknownDataSource as exc:
        raise AlgorithmError(
            f"Database type {kind!r} cannot be loaded into a DataFrame "
            f"(installed loaders: {', '.join(available_data_sources()) or 'none'})"
        ) from exc
    options: dict[str, Any] = dict(parameters or {})
    options.update(query=query, sheet_name=sheet_name)
    try:
        df = source.load(uri, options)
    except DataSourceError as exc:
        raise AlgorithmError(str(exc)) from exc
    except ImportError as exc:
        raise AlgorithmError(
            f"Reading a {kind} database needs a package this image lacks: {exc}"
        ) from exc
    except FileNotFoundError as exc:
        raise AlgorithmError(f"Database file not found: {uri}") from exc
    if not isinstance(df, pd.DataFrame):
        raise AlgorithmError(f"The {kind} loader returned {type(df).__name__}, not a DataFrame")
    return preprocess(df, preprocessing)


# --------------------------------------------------------------------------------------------
# preprocessing (``{LABEL}_PREPROCESSING``: JSON list of {"function", "parameters"})
# --------------------------------------------------------------------------------------------
def filter_range(
    df: pd.DataFrame,
    column: str | None = None,
    min_: float | None = None,
    max_: float | None = None,
    include_min: bool = False,
    include_max: bool = False,
) -> pd.DataFrame:
    """Keep the rows whose ``column`` (default: the index) lies within the bounds."""
    values = df.index.to_series(index=df.index) if column is None else df[column]
    keep = pd.Series(True, index=df.index)
    if min_ is not None:
        keep &= values >= min_ if include_min else values > min_
    if max_ is not None:
        keep &= values <= max_ if include_max else values < max_
    return df[keep]


def dummy_preprocess(df: pd.DataFrame) -> pd.DataFrame:
    return df


PREPROCESSING_FUNCTIONS: dict[str, Callable[..., pd.DataFrame]] = {
    "filter_range": filter_range,
    "dummy_preprocess": dummy_preprocess,
}


def preprocess(df: pd.DataFrame, steps: list[dict] | str | None) -> pd.DataFrame:
    """Apply preprocessing steps; an unknown step is an error (never silently skipped)."""
    if steps in (None, "", []):
        return df
    if isinstance(steps, str):
        try:
            steps = json.loads(steps)
        except ValueError as exc:
            raise AlgorithmError("The preprocessing specification is not valid JSON") from exc
    if not isinstance(steps, list):
        raise AlgorithmError("The preprocessing specification must be a list of steps")
    for step in steps:
        if not isinstance(step, dict) or "function" not in step:
            raise AlgorithmError(f"Preprocessing step without a 'function': {step!r}")
        func = PREPROCESSING_FUNCTIONS.get(step["function"])
        if func is None:
            raise AlgorithmError(
                f"Unknown preprocessing function {step['function']!r} "
                f"(known: {', '.join(PREPROCESSING_FUNCTIONS)})"
            )
        params: dict[str, Any] = step.get("parameters") or {}
        try:
            df = func(df, **params)
        except TypeError as exc:
            raise AlgorithmError(f"Bad parameters for {step['function']}: {exc}") from exc
    return df
