"""Federated linear regression (exact, one round) and logistic regression (Newton-Raphson).

Linear: every organization sends X'X, X'y, y'y, sum(y) and n of its complete rows; the
central part solves the pooled normal equations, so the coefficients are those of ordinary
least squares on the pooled data.

Logistic: each Newton step sends the current coefficients to every organization, which
returns its gradient X'(y - p), its information matrix X'WX and its log-likelihood; the
central part sums them and takes the step, until the step is below ``tol``.

Rows with a missing value in the outcome or any predictor are left out (complete cases).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from v6demo._federation import run_partials, target_organizations
from vantage6_algorithm.decorators import algorithm_client, data

INTERCEPT = "intercept"


def _as_list(names: list[str] | str) -> list[str]:
    if isinstance(names, str):
        return [names]
    names = list(names)
    if not names:
        raise ValueError("At least one predictor is needed")
    return names


def _design(
    df: pd.DataFrame, predictors: list[str], outcome: str, intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in [*predictors, outcome] if c not in df.columns]
    if missing:
        raise KeyError(f"Columns not in the data: {missing} (columns: {list(df.columns)})")
    used = df[[*predictors, outcome]].dropna()
    for column in [*predictors, outcome]:
        if not (
            pd.api.types.is_numeric_dtype(used[column]) or pd.api.types.is_bool_dtype(used[column])
        ):
            raise TypeError(f"Column {column!r} is not numeric")
    x = used[predictors].to_numpy(dtype=float)
    if intercept:
        x = np.column_stack([np.ones(len(used)), x])
    y = used[outcome].to_numpy(dtype=float)
    return x, y


def _names(predictors: list[str], intercept: bool) -> list[str]:
    return [INTERCEPT, *predictors] if intercept else list(predictors)


# --------------------------------------------------------------------------------------------
# linear regression
# --------------------------------------------------------------------------------------------
@data(1)
def linear_regression_partial(
    df: pd.DataFrame, predictors: list[str], outcome: str, intercept: bool = True
) -> dict[str, Any]:
    """This organization's sufficient statistics for least squares."""
    predictors = _as_list(predictors)
    x, y = _design(df, predictors, outcome, intercept)
    return {
        "n": int(len(y)),
        "xtx": (x.T @ x).tolist(),
        "xty": (x.T @ y).tolist(),
        "yty": float(y @ y),
        "y_sum": float(y.sum()),
    }


def combine_linear_regression(
    partials: list[dict[str, Any]], predictors: list[str], intercept: bool = True
) -> dict[str, Any]:
    """Solve the pooled normal equations and derive standard errors and R squared."""
    predictors = _as_list(predictors)
    names = _names(predictors, intercept)
    p = len(names)
    n = sum(int(part["n"]) for part in partials)
    xtx = np.sum([np.asarray(part["xtx"], dtype=float) for part in partials], axis=0)
    xty = np.sum([np.asarray(part["xty"], dtype=float) for part in partials], axis=0)
    yty = math.fsum(part["yty"] for part in partials)
    y_sum = math.fsum(part["y_sum"] for part in partials)
    if n <= p:
        raise ValueError(f"{n} complete rows are too few to fit {p} coefficients")
    try:
        beta = np.linalg.solve(xtx, xty)
        xtx_inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError as exc:
        raise ValueError("The predictors are collinear (X'X is singular)") from exc
    rss = max(float(yty - 2.0 * beta @ xty + beta @ xtx @ beta), 0.0)
    df_residual = n - p
    sigma2 = rss / df_residual
    se = np.sqrt(np.clip(np.diag(xtx_inv) * sigma2, 0.0, None))
    tss = yty - y_sum**2 / n if intercept else yty
    return {
        "coefficients": dict(zip(names, beta.tolist(), strict=True)),
        "standard_errors": dict(zip(names, se.tolist(), strict=True)),
        "n": n,
        "df_residual": df_residual,
        "rss": rss,
        "residual_variance": sigma2,
        "r_squared": 1.0 - rss / tss if tss > 0 else None,
    }


@algorithm_client
def linear_regression(
    client: Any,
    predictors: list[str],
    outcome: str,
    organizations: list[int] | None = None,
    intercept: bool = True,
) -> dict[str, Any]:
    """Ordinary least squares of ``outcome`` on ``predictors`` over all organizations' data."""
    predictors = _as_list(predictors)
    orgs = target_organizations(client, organizations)
    partials = run_partials(
        client,
        "linear_regression_partial",
        {"predictors": predictors, "outcome": outcome, "intercept": intercept},
        orgs,
        name="v6demo linear regression partial",
    )
    return combine_linear_regression(partials, predictors, intercept)


# --------------------------------------------------------------------------------------------
# logistic regression
# --------------------------------------------------------------------------------------------
@data(1)
def logistic_regression_partial(
    df: pd.DataFrame,
    predictors: list[str],
    outcome: str,
    coefficients: list[float],
    intercept: bool = True,
) -> dict[str, Any]:
    """Gradient, information matrix and log-likelihood at ``coefficients`` for this data."""
    predictors = _as_list(predictors)
    x, y = _design(df, predictors, outcome, intercept)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"The outcome {outcome!r} must be 0/1")
    beta = np.asarray(coefficients, dtype=float)
    if beta.shape != (x.shape[1],):
        raise ValueError(f"Expected {x.shape[1]} coefficients, got {beta.shape[0]}")
    eta = x @ beta
    prob = np.exp(-np.logaddexp(0.0, -eta))  # logistic function without overflow
    weights = prob * (1.0 - prob)
    return {
        "n": int(len(y)),
        "gradient": (x.T @ (y - prob)).tolist(),
        "information": ((x * weights[:, None]).T @ x).tolist(),
        "log_likelihood": float(np.sum(y * eta - np.logaddexp(0.0, eta))),
    }


@algorithm_client
def logistic_regression(
    client: Any,
    predictors: list[str],
    outcome: str,
    organizations: list[int] | None = None,
    intercept: bool = True,
    max_iter: int = 25,
    tol: float = 1e-10,
) -> dict[str, Any]:
    """Maximum-likelihood logistic regression by federated Newton-Raphson steps."""
    predictors = _as_list(predictors)
    names = _names(predictors, intercept)
    orgs = target_organizations(client, organizations)
    beta = np.zeros(len(names))
    converged = False
    iterations = 0
    information = None
    log_likelihood = None
    n = 0
    for iterations in range(1, int(max_iter) + 1):  # noqa: B007 - reported below
        partials = run_partials(
            client,
            "logistic_regression_partial",
            {
                "predictors": predictors,
                "outcome": outcome,
                "coefficients": beta.tolist(),
                "intercept": intercept,
            },
            orgs,
            name=f"v6demo logistic regression step {iterations}",
        )
        n = sum(int(part["n"]) for part in partials)
        gradient = np.sum([np.asarray(p["gradient"], dtype=float) for p in partials], axis=0)
        information = np.sum([np.asarray(p["information"], dtype=float) for p in partials], axis=0)
        log_likelihood = math.fsum(p["log_likelihood"] for p in partials)
        try:
            step = np.linalg.solve(information, gradient)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "The information matrix is singular (collinear predictors or separation)"
            ) from exc
        beta = beta + step
        if float(np.max(np.abs(step))) < tol:
            converged = True
            break
    # standard errors from the information at the last evaluated point; once converged the
    # final step is below tol, so this is the information at the estimate to that precision
    se = np.sqrt(np.clip(np.diag(np.linalg.inv(information)), 0.0, None))
    return {
        "coefficients": dict(zip(names, beta.tolist(), strict=True)),
        "standard_errors": dict(zip(names, se.tolist(), strict=True)),
        "n": n,
        "iterations": iterations,
        "converged": converged,
        "log_likelihood": log_likelihood,
    }
