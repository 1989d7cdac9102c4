"""A tiny algorithm package used by the algorithm-tools tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vantage6_algorithm.decorators import algorithm_client, data, metadata


def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


def numpy_and_pandas():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}, index=["x", "y"])
    return {
        "int": np.int64(3),
        "float": np.float32(0.25),
        "array": np.arange(3),
        "series": frame["a"],
        "frame": frame,
        "nan": float("nan"),
        "bool": np.bool_(True),
    }


def fails(message="boom"):
    raise ValueError(message)


def not_serializable():
    return object()


def exits_early():
    raise SystemExit(3)


@data(1)
def column_sum(df, column):
    return float(df[column].sum())


@data(2)
def two_frames(first, second):
    return {"first": list(first.columns), "second": list(second.columns)}


@metadata
def meta(info):
    return {
        "task_id": info.task_id,
        "node_id": info.node_id,
        "collaboration_id": info.collaboration_id,
        "organization_id": info.organization_id,
        "temporary_directory": str(info.temporary_directory),
        "output_file": str(info.output_file),
        "input_file": str(info.input_file),
        "token_file": str(info.token_file),
    }


@data(1)
@algorithm_client
def central(client, df, column):
    """Needs a client and data; sums ``column`` over all organizations via subtasks."""
    orgs = [o["id"] for o in client.organization.list()]
    task = client.task.create(
        {"method": "column_sum", "kwargs": {"column": column}}, organizations=orgs
    )
    results = client.wait_for_results(task["id"])
    return {"own_rows": len(df), "total": sum(results), "n": len(results)}


@algorithm_client
def client_info(client):
    return {
        "base_path": client.base_path,
        "node_id": client.node_id,
        "organization_id": client.organization_id,
        "collaboration_id": client.collaboration_id,
        "image": client.image,
        "databases": client.databases,
    }
