"""A small algorithm written against the *published* vantage6 4.x algorithm tools.

It runs inside ``localhost/v6-published-tools:latest`` (see containers/) and lets tests check that
our node and server serve an unmodified vantage6 algorithm: the wrapper, the ``@data`` and
``@algorithm_client`` decorators, subtasks through the node proxy and result retrieval.

Methods (input ``{"method": NAME, "args": [...], "kwargs": {...}}``):

- ``echo(value)``: returns ``{"echo": value}``.
- ``partial_stats(df, column)``: ``{"count", "sum", "sum_sq"}`` of one numeric column.
- ``central_mean(client, column, organizations=None)``: starts ``partial_stats`` at the given
  organizations (default: every organization in the collaboration), waits, and returns
  ``{"mean", "count", "organizations"}``.
- ``environment()``: which vantage6 variables the algorithm sees (names only) and its package.
- ``fail(message)``: raises, so the wrapper exits non-zero.
"""

from __future__ import annotations

import os
from typing import Any

from vantage6.algorithm.tools.decorators import algorithm_client, data
from vantage6.algorithm.tools.util import info

_V6_VARIABLES = (
    "INPUT_FILE",
    "OUTPUT_FILE",
    "TOKEN_FILE",
    "TEMPORARY_FOLDER",
    "HOST",
    "PORT",
    "API_PATH",
    "USER_REQUESTED_DATABASE_LABELS",
)


def echo(value: Any) -> dict[str, Any]:
    return {"echo": value}


@data(1)
def partial_stats(df, column: str) -> dict[str, Any]:
    values = df[column].astype(float)
    info(f"partial_stats over {len(values)} rows of {column!r}")
    return {
        "count": int(values.count()),
        "sum": float(values.sum()),
        "sum_sq": float((values * values).sum()),
    }


@algorithm_client
def central_mean(client, column: str, organizations: list[int] | None = None) -> dict[str, Any]:
    if organizations is None:
        organizations = [org["id"] for org in client.organization.list()]
    info(f"starting partial_stats at organizations {organizations}")
    task = client.task.create(
        input_={"method": "partial_stats", "kwargs": {"column": column}},
        organizations=organizations,
        name="partial_stats",
        description="subtask of central_mean",
    )
    results = client.wait_for_results(task_id=task["id"], interval=0.5)
    count = sum(int(r["count"]) for r in results)
    total = sum(float(r["sum"]) for r in results)
    return {
        "mean": total / count if count else None,
        "count": count,
        "organizations": sorted(organizations),
    }


def environment() -> dict[str, Any]:
    return {
        "present": sorted(name for name in _V6_VARIABLES if name in os.environ),
        "pkg_name": os.environ.get("PKG_NAME"),
        "databases": os.environ.get("USER_REQUESTED_DATABASE_LABELS", ""),
    }


def fail(message: str = "requested failure") -> None:
    raise RuntimeError(message)
