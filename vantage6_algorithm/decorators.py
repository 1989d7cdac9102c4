"""Decorators that give an algorithm function its data, a client and run metadata.

``@data(n)``
    Prepends ``n`` DataFrames read from the databases the user chose for the task
    (``USER_REQUESTED_DATABASE_LABELS``), in the order the user gave them.
``@algorithm_client``
    Prepends an :class:`~vantage6_algorithm.client.AlgorithmClient` connected to the node proxy.
``@metadata``
    Prepends a :class:`RunMetaData` describing this run.

When stacked, the decorator closest to the function supplies the first argument (as in
vantage6)::

    @data(1)
    @algorithm_client
    def central(client, df, column): ...

For local testing, :class:`~vantage6_algorithm.mock_client.MockAlgorithmClient` passes
``mock_client=...``, ``mock_data=[...]`` and ``mock_metadata=...`` instead; decorated functions
carry the attributes ``wrapped_in_algorithm_client_decorator``, ``wrapped_in_data_decorator``
(and ``data_decorator_count``) and ``wrapped_in_metadata_decorator`` so it knows what to pass.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vantage6_algorithm.client import AlgorithmClient
from vantage6_algorithm.data import load_data
from vantage6_algorithm.util import (
    AlgorithmError,
    container_identity,
    get_env,
    info,
    read_token,
    require_env,
    warn,
)

__all__ = [
    "RunMetaData",
    "data",
    "algorithm_client",
    "metadata",
    "get_user_database_labels",
    "load_database",
    "get_run_metadata",
]


@dataclass
class RunMetaData:
    """What an algorithm may want to know about the run it is part of."""

    task_id: int | None
    node_id: int | None
    collaboration_id: int | None
    organization_id: int | None
    temporary_directory: Path | None
    output_file: Path | None
    input_file: Path | None
    token_file: Path | None


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def get_user_database_labels() -> list[str]:
    """Labels of the databases the user requested, in order."""
    raw = get_env("USER_REQUESTED_DATABASE_LABELS", "") or ""
    return [label.strip() for label in raw.split(",") if label.strip()]


def load_database(label: str) -> pd.DataFrame:
    """Load the node database that has ``label`` as described by the environment."""
    prefix = label.upper()
    uri = get_env(f"{prefix}_DATABASE_URI")
    if not uri:
        raise AlgorithmError(f"No {prefix}_DATABASE_URI: the node has no database {label!r}")
    db_type = (get_env(f"{prefix}_DATABASE_TYPE") or "csv").lower()
    info(f"Loading database {label!r} ({db_type})")
    return load_data(
        uri,
        db_type,
        query=get_env(f"{prefix}_QUERY"),
        sheet_name=get_env(f"{prefix}_SHEET_NAME"),
        preprocessing=get_env(f"{prefix}_PREPROCESSING"),
        parameters=_database_parameters(prefix),
    )


def _database_parameters(prefix: str) -> dict[str, str]:
    """The node's extra settings for one database (``{LABEL}_DB_PARAM_{KEY}``) by lower key."""
    marker = f"{prefix}_DB_PARAM_"
    return {
        name[len(marker) :].lower(): get_env(name) or ""
        for name in os.environ
        if name.startswith(marker) and len(name) > len(marker)
    }


def data(number_of_databases: int = 1) -> Callable[[Callable], Callable]:
    """Decorator factory: prepend ``number_of_databases`` DataFrames to the arguments."""
    if callable(number_of_databases):
        # used bare, as ``@data``: one database
        return data(1)(number_of_databases)
    count = int(number_of_databases)
    if count < 1:
        raise ValueError("@data needs at least one database")

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, mock_data: list[pd.DataFrame] | None = None, **kwargs: Any):
            if mock_data is not None:
                frames = list(mock_data)[:count]
                if len(frames) < count:
                    raise AlgorithmError(
                        f"{func.__name__} needs {count} databases, got {len(frames)} mocked"
                    )
                return func(*frames, *args, **kwargs)
            labels = get_user_database_labels()
            if len(labels) < count:
                raise AlgorithmError(
                    f"{func.__name__} needs {count} database(s) but the task requested "
                    f"{len(labels)}: {labels}"
                )
            if len(labels) > count:
                warn(f"{len(labels)} databases requested, {func.__name__} uses the first {count}")
            frames = [load_database(label) for label in labels[:count]]
            return func(*frames, *args, **kwargs)

        wrapper.wrapped_in_data_decorator = True
        wrapper.data_decorator_count = count
        return wrapper

    return decorate


# --------------------------------------------------------------------------------------------
# algorithm client
# --------------------------------------------------------------------------------------------
def _client_from_environment() -> AlgorithmClient:
    return AlgorithmClient(
        token=read_token(),
        host=require_env("HOST"),
        port=get_env("PORT"),
        path=get_env("API_PATH", "") or "",
    )


def algorithm_client(func: Callable | None = None) -> Callable:
    """Prepend an :class:`AlgorithmClient`; usable as ``@algorithm_client`` or with ``()``."""
    if func is None:
        return algorithm_client

    @functools.wraps(func)
    def wrapper(*args: Any, mock_client: Any = None, **kwargs: Any):
        client = mock_client if mock_client is not None else _client_from_environment()
        return func(client, *args, **kwargs)

    wrapper.wrapped_in_algorithm_client_decorator = True
    return wrapper


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------
def _optional_path(name: str) -> Path | None:
    value = get_env(name)
    return Path(value) if value else None


def get_run_metadata() -> RunMetaData:
    """Run metadata from the container token's claims and the node's environment."""
    token_file = require_env("TOKEN_FILE")
    identity = container_identity(read_token(token_file))
    return RunMetaData(
        task_id=identity.get("task_id"),
        node_id=identity.get("node_id"),
        collaboration_id=identity.get("collaboration_id"),
        organization_id=identity.get("organization_id"),
        temporary_directory=_optional_path("TEMPORARY_FOLDER"),
        output_file=_optional_path("OUTPUT_FILE"),
        input_file=_optional_path("INPUT_FILE"),
        token_file=Path(token_file),
    )


def metadata(func: Callable | None = None) -> Callable:
    """Prepend a :class:`RunMetaData`; usable as ``@metadata`` or ``@metadata()``."""
    if func is None:
        return metadata

    @functools.wraps(func)
    def wrapper(*args: Any, mock_metadata: RunMetaData | None = None, **kwargs: Any):
        meta = mock_metadata if mock_metadata is not None else get_run_metadata()
        return func(meta, *args, **kwargs)

    wrapper.wrapped_in_metadata_decorator = True
    return wrapper
