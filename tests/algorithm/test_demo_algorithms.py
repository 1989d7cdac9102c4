"""The v6demo algorithms give exactly the pooled-data answers (to 1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import tests.algorithm.helpers  # noqa: F401 - puts the algorithm packages on sys.path
from vantage6_algorithm.mock_client import MockAlgorithmClient

TOL = {"rel_tol": 1e-9, "abs_tol": 1e-9}
ORG_SIZES = [40, 85, 23, 150]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, **TOL)


def make_frames(seed: int = 6) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in enumerate(ORG_SIZES):
        age = rng.normal(50 + 3 * k, 12, n)
        bmi = rng.normal(26, 4, n)
        y = 2.0 + 0.35 * age - 0.8 * bmi + rng.normal(0, 2.5, n)
        p = 1 / (1 + np.exp(-(-4.0 + 0.06 * age + 0.03 * bmi)))
        event = (rng.random(n) < p).astype(int)
        frame = pd.DataFrame(
            {
                "age": age,
                "bmi": bmi,
                "y": y,
                "event": event,
                "site": f"site{k}",
                "smoker": rng.random(n) < 0.3,
            }
        )
        frame.loc[rng.choice(n, 3, replace=False), "bmi"] = np.nan  # missing values
        if k == 2:
            frame["visits"] = rng.integers(0, 9, n)  # a column only one site has
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def frames():
    return make_frames()


@pytest.fixture(scope="module")
def csv_paths(frames, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sites")
    paths = []
    for k, frame in enumerate(frames):
        path = folder / f"site{k}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


@pytest.fixture
def client(csv_paths):
    return MockAlgorithmClient(
        [[{"database": str(p), "db_type": "csv"}] for p in csv_paths],
        module="v6demo",
        organization_ids=[1, 2, 3, 4],
    )


@pytest.fixture(scope="module")
def pooled(csv_paths):
    # what the sites hold, read back the same way (CSV round trip), pooled
    return pd.concat([pd.read_csv(p) for p in csv_paths], ignore_index=True)


def run_central(client, method: str, org: int = 1, **kwargs):
    task = client.task.create({"method": method, "kwargs": kwargs}, organizations=[org])
    [result] = client.wait_for_results(task["id"])
    return result


# ------------------------------------------------------------------------------------------
# summary statistics
# ------------------------------------------------------------------------------------------
def assert_summary_matches(result: dict, pooled: pd.DataFrame, columns: list[str]) -> None:
    assert list(result) == columns
    for column in columns:
        stats = result[column]
        series = pooled[column].astype(float)
        assert stats["count"] == int(series.count()), column
        assert close(stats["mean"], series.mean()), column
        assert close(stats["variance"], series.var(ddof=1)), column
        assert close(stats["std"], series.std(ddof=1)), column
        assert stats["min"] == series.min() and stats["max"] == series.max(), column


def test_summary_all_numeric_columns(client, pooled):
    result = run_central(client, "summary")
    assert_summary_matches(result, pooled, ["age", "bmi", "y", "event", "visits"])
    assert "site" not in result and "smoker" not in result
    assert result["bmi"]["count"] == sum(ORG_SIZES) - 3 * len(ORG_SIZES)
    assert result["visits"]["count"] == ORG_SIZES[2]


def test_summary_selected_columns_and_organizations(client, csv_paths):
    result = run_central(client, "summary", org=3, columns=["bmi", "smoker"], organizations=[2, 4])
    subset = pd.concat([pd.read_csv(csv_paths[1]), pd.read_csv(csv_paths[3])])
    assert_summary_matches(result, subset, ["bmi", "smoker"])
    sub = client.tasks[-1]
    assert [r["organization"]["id"] for r in client.run.from_task(sub["id"])] == [2, 4]


def test_summary_is_exact_for_large_offsets():
    """Pooling by count/sum/centred squares keeps precision where raw sums of squares lose it."""
    rng = np.random.default_rng(1)
    frames = [pd.DataFrame({"x": 1e9 + rng.normal(0, 1, n)}) for n in (30, 70, 55)]
    client = MockAlgorithmClient([[{"database": f}] for f in frames], "v6demo")
    result = run_central(client, "summary", org=0)
    pooled = pd.concat(frames)["x"]
    assert math.isclose(result["x"]["variance"], pooled.var(ddof=1), rel_tol=1e-6)
    assert close(result["x"]["mean"], pooled.mean())


def test_combine_summaries_edge_cases():
    from v6demo import combine_summaries, summary_partial

    parts = [
        summary_partial(mock_data=[pd.DataFrame({"a": [np.nan, np.nan]})]),
        summary_partial(mock_data=[pd.DataFrame({"a": [4.0]})]),
    ]
    assert parts[0]["columns"]["a"]["count"] == 0
    combined = combine_summaries(parts)
    assert combined["a"] == {
        "count": 1,
        "mean": 4.0,
        "variance": None,
        "std": None,
        "min": 4.0,
        "max": 4.0,
    }
    nothing = combine_summaries([parts[0]])
    assert nothing["a"]["count"] == 0 and nothing["a"]["mean"] is None


def test_summary_errors(client):
    with pytest.raises(KeyError, match="nope"):
        run_central(client, "summary", columns=["nope"])
    with pytest.raises(TypeError, match="not numeric"):
        run_central(client, "summary", columns=["site"])


def test_summary_reports_missing_organizations(csv_paths):
    client = MockAlgorithmClient(
        [[{"database": str(csv_paths[0])}], [{"database": str(csv_paths[1])}]],
        module="v6demo",
        raise_errors=False,
    )
    # the second organization has no column "visits" -> its partial fails
    task = client.task.create(
        {"method": "summary", "kwargs": {"columns": ["visits"]}}, organizations=[0]
    )
    assert task["status"] == "failed"
    [central_run] = client.run.from_task(task["id"])
    assert "RuntimeError" in central_run["log"] and "returned a result" in central_run["log"]


# ------------------------------------------------------------------------------------------
# linear regression
# ------------------------------------------------------------------------------------------
def pooled_ols(pooled: pd.DataFrame, predictors: list[str], outcome: str, intercept: bool):
    used = pooled[[*predictors, outcome]].dropna()
    x = used[predictors].to_numpy(float)
    if intercept:
        x = np.column_stack([np.ones(len(x)), x])
    y = used[outcome].to_numpy(float)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    n, p = x.shape
    sigma2 = resid @ resid / (n - p)
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * sigma2)
    tss = ((y - y.mean()) ** 2).sum() if intercept else (y**2).sum()
    return beta, se, n, 1 - (resid @ resid) / tss, sigma2


@pytest.mark.parametrize("intercept", [True, False])
def test_linear_regression_matches_pooled_least_squares(client, pooled, intercept):
    predictors = ["age", "bmi", "smoker"]
    result = run_central(
        client, "linear_regression", predictors=predictors, outcome="y", intercept=intercept
    )
    beta, se, n, r2, sigma2 = pooled_ols(pooled, predictors, "y", intercept)
    names = (["intercept"] if intercept else []) + predictors
    assert list(result["coefficients"]) == names
    for name, b, s in zip(names, beta, se, strict=True):
        assert close(result["coefficients"][name], b), name
        assert close(result["standard_errors"][name], s), name
    assert result["n"] == n and result["df_residual"] == n - len(names)
    assert close(result["r_squared"], r2)
    assert close(result["residual_variance"], sigma2)


def test_linear_regression_on_selected_organizations(client, csv_paths):
    result = run_central(
        client, "linear_regression", predictors=["age"], outcome="y", organizations=[1, 3]
    )
    subset = pd.concat([pd.read_csv(csv_paths[0]), pd.read_csv(csv_paths[2])])
    beta, *_ = pooled_ols(subset, ["age"], "y", True)
    assert close(result["coefficients"]["intercept"], beta[0])
    assert close(result["coefficients"]["age"], beta[1])


def test_linear_regression_errors(client, frames):
    with pytest.raises(KeyError):
        run_central(client, "linear_regression", predictors=["age", "nope"], outcome="y")
    with pytest.raises(TypeError):
        run_central(client, "linear_regression", predictors=["site"], outcome="y")
    collinear = [f.assign(age2=f["age"] * 2) for f in frames]
    client2 = MockAlgorithmClient([[{"database": f}] for f in collinear], "v6demo")
    with pytest.raises(ValueError, match="collinear"):
        run_central(client2, "linear_regression", org=0, predictors=["age", "age2"], outcome="y")


# ------------------------------------------------------------------------------------------
# logistic regression
# ------------------------------------------------------------------------------------------
def pooled_logistic(pooled: pd.DataFrame, predictors: list[str], outcome: str):
    """Reference fit on the pooled data (iteratively reweighted least squares)."""
    used = pooled[[*predictors, outcome]].dropna()
    x = np.column_stack([np.ones(len(used)), used[predictors].to_numpy(float)])
    y = used[outcome].to_numpy(float)
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        mu = 1 / (1 + np.exp(-(x @ beta)))
        w = mu * (1 - mu)
        z = x @ beta + (y - mu) / w
        new = np.linalg.solve(x.T @ (w[:, None] * x), x.T @ (w * z))
        if np.max(np.abs(new - beta)) < 1e-13:
            beta = new
            break
        beta = new
    mu = 1 / (1 + np.exp(-(x @ beta)))
    info = x.T @ ((mu * (1 - mu))[:, None] * x)
    loglik = float(np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu)))
    return beta, np.sqrt(np.diag(np.linalg.inv(info))), x, y, loglik


def test_logistic_regression_matches_pooled_fit(client, pooled):
    predictors = ["age", "bmi"]
    result = run_central(client, "logistic_regression", predictors=predictors, outcome="event")
    assert result["converged"] and result["iterations"] < 25
    beta, se, x, y, loglik = pooled_logistic(pooled, predictors, "event")
    names = ["intercept", *predictors]
    fitted = np.array([result["coefficients"][k] for k in names])
    for name, b, s in zip(names, beta, se, strict=True):
        assert close(result["coefficients"][name], b), name
        assert math.isclose(result["standard_errors"][name], s, rel_tol=1e-8), name
    # the score of the pooled likelihood vanishes at the federated estimate
    mu = 1 / (1 + np.exp(-(x @ fitted)))
    assert np.max(np.abs(x.T @ (y - mu))) < 1e-6
    assert result["n"] == len(y)
    assert math.isclose(result["log_likelihood"], loglik, rel_tol=1e-9)
    # one subtask per Newton step, all in the same job
    assert len(client.tasks) == 1 + result["iterations"]


def test_logistic_regression_needs_binary_outcome(client):
    with pytest.raises(ValueError, match="0/1"):
        run_central(client, "logistic_regression", predictors=["age"], outcome="y")
