"""Loading a node's databases into pandas DataFrames.

Supported types (the node's ``{LABEL}_DATABASE_TYPE``): ``csv``, ``parquet``, ``excel`` and
``sql``. SQL goes through SQLAlchemy when it is installed; SQLite databases also work with the
standard library alone (the plain algorithm image has no SQLAlchemy).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from vantage6_algorithm.util import AlgorithmError

DATABASE_TYPES = ("csv", "parquet", "excel", "sql")
# Parse CSV floats exactly as written. pandas < 3 (e.g. Debian's 1.5) may be off by one ulp
# unless asked for "round_trip"; pandas 3 is exact by default and deprecates the option.
_CSV_OPTIONS: dict = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def load_data(
    database_uri: str | os.PathLike,
    db_type: str | None = "csv",
    query: str | None = None,
    sheet_name: str | int | None = None,
    preprocessing: list[dict] | str | None = None,
) -> pd.DataFrame:
    """Read one database as a DataFrame and apply any preprocessing steps."""
    kind = (db_type or "csv").lower()
    uri = os.fspath(database_uri)
    try:
        if kind == "csv":
            df = pd.read_csv(uri, **_CSV_OPTIONS)
        elif kind == "parquet":
            df = pd.read_parquet(uri)
        elif kind == "excel":
            df = pd.read_excel(uri, sheet_name=0 if sheet_name in (None, "") else sheet_name)
        elif kind == "sql":
            if not query:
                raise AlgorithmError(f"A query is required for the sql database {uri!r}")
            df = read_sql(uri, query)
        else:
            raise AlgorithmError(
                f"Database type {kind!r} cannot be loaded into a DataFrame "
                f"(supported: {', '.join(DATABASE_TYPES)})"
            )
    except ImportError as exc:
        raise AlgorithmError(
            f"Reading a {kind} database needs a package this image lacks: {exc}"
        ) from exc
    except FileNotFoundError as exc:
        raise AlgorithmError(f"Database file not found: {uri}") from exc
    return preprocess(df, preprocessing)


# --------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------
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


def read_sql(uri: str, query: str, use_sqlalchemy: bool | None = None) -> pd.DataFrame:
    """Run ``query`` on the database at ``uri``.

    ``use_sqlalchemy``: None picks SQLAlchemy when it is importable; SQLite works without it.
    """
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
        raise AlgorithmError(
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
