"""Demo federated algorithms for the vantage6-compatible platform.

Central functions (run them as the task's method, on one organization):

- ``summary(client, columns=None, organizations=None)``
- ``linear_regression(client, predictors, outcome, organizations=None, intercept=True)``
- ``logistic_regression(client, predictors, outcome, organizations=None, intercept=True,
  max_iter=25, tol=1e-10)``

Each creates subtasks running the matching ``*_partial`` function on every organization's data
and combines the partial aggregates exactly: the answers equal those computed on the pooled data.
"""

from v6demo.regression import (
    combine_linear_regression,
    linear_regression,
    linear_regression_partial,
    logistic_regression,
    logistic_regression_partial,
)
from v6demo.summary import combine_summaries, summary, summary_partial

__all__ = [
    "summary",
    "summary_partial",
    "combine_summaries",
    "linear_regression",
    "linear_regression_partial",
    "combine_linear_regression",
    "logistic_regression",
    "logistic_regression_partial",
]
