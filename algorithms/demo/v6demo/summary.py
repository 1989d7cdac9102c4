"""Federated summary statistics: count, mean, sample variance, min and max per column.

Each organization reports, per numeric column, the count ``n``, the sum and the sum of squared
deviations from its own mean (``m2``), plus min and max. The central part combines them with
the exact pooling identity

    mean = sum(sum_i) / N
    M2   = sum(m2_i + n_i * (mean_i - mean) ** 2)
    variance = M2 / (N - 1)

which is algebraically identical to the variance of the pooled data and, unlike pooling raw
sums of squares, does not lose precision to cancellation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from v6demo._federation import run_partials, target_organizations
from vantage6_algorithm.decorators import algorithm_client, data


def _numeric_values(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        raise KeyError(f"Column {column!r} is not in the data (columns: {list(df.columns)})")
    series = df[column]
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    elif not pd.api.types.is_numeric_dtype(series):
        raise TypeError(f"Column {column!r} is not numeric")
    return series.dropna().to_numpy(dtype=float)


def _default_columns(df: pd.DataFrame) -> list[str]:
    return [
        str(c)
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]


@data(1)
def summary_partial(df: pd.DataFrame, columns: list[str] | None = None) -> dict[str, Any]:
    """Per-column aggregates of this organization's data (see the module docstring)."""
    if isinstance(columns, str):
        columns = [columns]
    selected = list(columns) if columns else _default_columns(df)
    out: dict[str, Any] = {}
    for column in selected:
        values = _numeric_values(df, column)
        n = int(values.size)
        if n == 0:
            out[column] = {"count": 0, "sum": 0.0, "m2": 0.0, "min": None, "max": None}
            continue
        total = float(values.sum())
        local_mean = total / n
        out[column] = {
            "count": n,
            "sum": total,
            "m2": float(np.square(values - local_mean).sum()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return {"n_rows": int(len(df)), "columns": out}


def combine_summaries(partials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pool the organizations' aggregates into the statistics of the combined data."""
    order: list[str] = []
    for part in partials:
        for column in part["columns"]:
            if column not in order:
                order.append(column)
    combined: dict[str, dict[str, Any]] = {}
    for column in order:
        pieces = [p["columns"][column] for p in partials if column in p["columns"]]
        pieces = [p for p in pieces if p["count"] > 0]
        n = sum(int(p["count"]) for p in pieces)
        if n == 0:
            combined[column] = {
                "count": 0,
                "mean": None,
                "variance": None,
                "std": None,
                "min": None,
                "max": None,
            }
            continue
        mean = math.fsum(p["sum"] for p in pieces) / n
        m2 = math.fsum(p["m2"] + p["count"] * (p["sum"] / p["count"] - mean) ** 2 for p in pieces)
        variance = m2 / (n - 1) if n > 1 else None
        combined[column] = {
            "count": n,
            "mean": mean,
            "variance": variance,
            "std": math.sqrt(variance) if variance is not None else None,
            "min": min(p["min"] for p in pieces),
            "max": max(p["max"] for p in pieces),
        }
    return combined


@algorithm_client
def summary(
    client: Any, columns: list[str] | None = None, organizations: list[int] | None = None
) -> dict[str, dict[str, Any]]:
    """Count, mean, sample variance (ddof=1), std, min and max per numeric column, pooled over
    ``organizations`` (default: all in the collaboration)."""
    orgs = target_organizations(client, organizations)
    partials = run_partials(
        client, "summary_partial", {"columns": columns}, orgs, name="v6demo summary partial"
    )
    return combine_summaries(partials)
