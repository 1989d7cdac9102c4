"""@data, @algorithm_client and @metadata, plus the database loaders behind @data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tests.algorithm.helpers import IDENTITY, make_token, vantage6_token
from vantage6_algorithm.client import AlgorithmClient
from vantage6_algorithm.decorators import (
    RunMetaData,
    algorithm_client,
    data,
    get_run_metadata,
    metadata,
)
from vantage6_algorithm.util import ENV_DECODED_MARKER, AlgorithmError
from vantage6_common.datasources import DataSourceError
from vantage6_common.envcoding import encode_env_value
from vantage6_datasource_sql import read_sql

FRAME = pd.DataFrame(
    {"id": [1, 2, 3, 4], "age": [31.0, 45.5, 60.0, 22.25], "sex": ["f", "m", "f", "m"]}
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(ENV_DECODED_MARKER, raising=False)
    monkeypatch.delenv("USER_REQUESTED_DATABASE_LABELS", raising=False)


def set_node_env(monkeypatch, values: dict, encode: bool = True) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, encode_env_value(str(value)) if encode else str(value))


def set_database(monkeypatch, labels_specs: dict[str, dict], encode: bool = True) -> None:
    env = {"USER_REQUESTED_DATABASE_LABELS": ",".join(labels_specs)}
    for label, spec in labels_specs.items():
        for key, value in spec.items():
            env[f"{label.upper()}_{key}"] = value
    set_node_env(monkeypatch, env, encode)


@data(1)
def first_frame(df, extra=None):
    return df, extra


@data(2)
def both_frames(a, b):
    return a, b


def assert_same(loaded: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        loaded.reset_index(drop=True), FRAME, check_dtype=False, check_like=False
    )


# ------------------------------------------------------------------------------------------
# database types
# ------------------------------------------------------------------------------------------
def test_csv(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, index=False)
    set_database(monkeypatch, {"default": {"DATABASE_URI": path, "DATABASE_TYPE": "csv"}})
    df, extra = first_frame(extra=5)
    assert_same(df)
    assert extra == 5


def test_type_defaults_to_csv_and_env_may_be_plain(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, index=False)
    set_database(monkeypatch, {"default": {"DATABASE_URI": path}}, encode=False)
    assert_same(first_frame()[0])


def test_parquet(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    FRAME.to_parquet(path)
    set_database(monkeypatch, {"pq": {"DATABASE_URI": path, "DATABASE_TYPE": "parquet"}})
    assert_same(first_frame()[0])


def test_excel_with_and_without_sheet_name(tmp_path, monkeypatch):
    path = tmp_path / "d.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"other": [1]}).to_excel(writer, sheet_name="first", index=False)
        FRAME.to_excel(writer, sheet_name="patients", index=False)
    spec = {"DATABASE_URI": path, "DATABASE_TYPE": "excel", "SHEET_NAME": "patients"}
    set_database(monkeypatch, {"xl": spec})
    assert_same(first_frame()[0])
    set_database(monkeypatch, {"xl": {"DATABASE_URI": path, "DATABASE_TYPE": "excel"}})
    monkeypatch.delenv("XL_SHEET_NAME")
    assert list(first_frame()[0].columns) == ["other"]


@pytest.fixture
def sqlite_db(tmp_path) -> Path:
    path = tmp_path / "patients.sqlite"
    conn = sqlite3.connect(path)
    FRAME.to_sql("patients", conn, index=False)
    conn.close()
    return path


@pytest.mark.parametrize("uri_form", ["sqlite_url", "plain_path"])
def test_sql_sqlite_via_sqlalchemy(sqlite_db, monkeypatch, uri_form):
    pytest.importorskip("sqlalchemy")
    uri = f"sqlite:///{sqlite_db}" if uri_form == "sqlite_url" else str(sqlite_db)
    spec = {
        "DATABASE_URI": uri,
        "DATABASE_TYPE": "sql",
        "QUERY": "SELECT id, age, sex FROM patients ORDER BY id",
    }
    set_database(monkeypatch, {"db": spec})
    assert_same(first_frame()[0])


def test_sql_sqlite_without_sqlalchemy_is_read_only(sqlite_db):
    df = read_sql(
        f"sqlite:///{sqlite_db}", "SELECT * FROM patients ORDER BY id", use_sqlalchemy=False
    )
    assert_same(df)
    with pytest.raises(sqlite3.OperationalError):
        read_sql(str(sqlite_db), "DELETE FROM patients", use_sqlalchemy=False)
    with pytest.raises(DataSourceError, match="only SQLite"):
        read_sql("postgresql://x/y", "SELECT 1", use_sqlalchemy=False)


def test_sql_needs_a_query(sqlite_db, monkeypatch):
    set_database(monkeypatch, {"db": {"DATABASE_URI": sqlite_db, "DATABASE_TYPE": "sql"}})
    with pytest.raises(AlgorithmError, match="query is required"):
        first_frame()


def test_unknown_type_and_missing_file(tmp_path, monkeypatch):
    set_database(monkeypatch, {"x": {"DATABASE_URI": tmp_path / "a", "DATABASE_TYPE": "sparql"}})
    with pytest.raises(AlgorithmError, match="cannot be loaded"):
        first_frame()
    set_database(monkeypatch, {"x": {"DATABASE_URI": tmp_path / "no.csv", "DATABASE_TYPE": "csv"}})
    with pytest.raises(AlgorithmError, match="not found"):
        first_frame()


def test_preprocessing_filter_range(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, index=False)
    steps = (
        '[{"function": "filter_range", "parameters": '
        '{"column": "age", "min_": 30, "max_": 60, "include_max": true}}]'
    )
    set_database(monkeypatch, {"default": {"DATABASE_URI": path, "PREPROCESSING": steps}})
    assert first_frame()[0]["id"].tolist() == [1, 2, 3]
    set_node_env(monkeypatch, {"DEFAULT_PREPROCESSING": '[{"function": "drop_everything"}]'})
    with pytest.raises(AlgorithmError, match="Unknown preprocessing"):
        first_frame()


# ------------------------------------------------------------------------------------------
# @data semantics
# ------------------------------------------------------------------------------------------
def test_two_databases_keep_the_requested_order(tmp_path, monkeypatch):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"a": [1]}).to_csv(a, index=False)
    pd.DataFrame({"b": [1]}).to_csv(b, index=False)
    set_database(monkeypatch, {"second": {"DATABASE_URI": b}, "first": {"DATABASE_URI": a}})
    x, y = both_frames()
    assert list(x.columns) == ["b"] and list(y.columns) == ["a"]


def test_too_few_databases(monkeypatch, tmp_path):
    with pytest.raises(AlgorithmError, match="needs 1 database"):
        first_frame()
    path = tmp_path / "a.csv"
    FRAME.to_csv(path, index=False)
    set_database(monkeypatch, {"only": {"DATABASE_URI": path}})
    with pytest.raises(AlgorithmError, match="needs 2 database"):
        both_frames()


def test_extra_databases_are_ignored_with_a_warning(monkeypatch, tmp_path, capsys):
    path = tmp_path / "a.csv"
    FRAME.to_csv(path, index=False)
    set_database(monkeypatch, {"a": {"DATABASE_URI": path}, "b": {"DATABASE_URI": path}})
    assert_same(first_frame()[0])
    assert "uses the first 1" in capsys.readouterr().err


def test_label_without_uri(monkeypatch):
    set_node_env(monkeypatch, {"USER_REQUESTED_DATABASE_LABELS": "ghost"})
    with pytest.raises(AlgorithmError, match="GHOST_DATABASE_URI"):
        first_frame()


def test_mock_data_and_attributes():
    assert first_frame.wrapped_in_data_decorator is True
    assert both_frames.data_decorator_count == 2
    df, _ = first_frame(mock_data=[FRAME, pd.DataFrame()])
    assert df is FRAME
    with pytest.raises(AlgorithmError):
        both_frames(mock_data=[FRAME])
    assert first_frame.__name__ == "first_frame"


def test_bare_data_decorator():
    @data
    def f(df):
        return len(df)

    assert f(mock_data=[FRAME]) == 4
    with pytest.raises(ValueError):
        data(0)


# ------------------------------------------------------------------------------------------
# @algorithm_client and @metadata
# ------------------------------------------------------------------------------------------
@algorithm_client
def with_client(client, x):
    return client, x


@data(1)
@algorithm_client
def client_and_data(client, df):
    return client, df


def test_algorithm_client_from_environment(monkeypatch, token_file):
    set_node_env(
        monkeypatch,
        {"HOST": "http://proxy", "PORT": "8080", "API_PATH": "/api", "TOKEN_FILE": token_file},
    )
    client, x = with_client(4)
    assert isinstance(client, AlgorithmClient) and x == 4
    assert client.base_path == "http://proxy:8080/api"
    assert client.token == vantage6_token()
    assert client.node_id == IDENTITY["node_id"]
    assert client.organization_id == IDENTITY["organization_id"]
    assert client.collaboration_id == IDENTITY["collaboration_id"]
    assert client.task_id == IDENTITY["task_id"]
    assert client.image == IDENTITY["image"]
    assert client.databases == IDENTITY["databases"]
    assert with_client.wrapped_in_algorithm_client_decorator is True


def test_algorithm_client_needs_host_and_token(monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("TOKEN_FILE", raising=False)
    with pytest.raises(AlgorithmError):
        with_client(1)


def test_mock_client_and_stacking():
    sentinel = object()
    client, x = with_client(1, mock_client=sentinel)
    assert client is sentinel and x == 1
    client, df = client_and_data(mock_client=sentinel, mock_data=[FRAME])
    assert client is sentinel and df is FRAME
    assert client_and_data.wrapped_in_data_decorator
    assert client_and_data.wrapped_in_algorithm_client_decorator
    assert algorithm_client() is algorithm_client


@metadata
def with_meta(meta, y=None):
    return meta, y


def test_metadata_from_vantage6_token(monkeypatch, token_file, tmp_path):
    set_node_env(
        monkeypatch,
        {
            "TOKEN_FILE": token_file,
            "TEMPORARY_FOLDER": tmp_path / "tmp",
            "OUTPUT_FILE": tmp_path / "output",
            "INPUT_FILE": tmp_path / "input",
        },
    )
    meta, y = with_meta(y=2)
    assert y == 2
    assert meta == RunMetaData(
        task_id=11,
        node_id=7,
        collaboration_id=2,
        organization_id=3,
        temporary_directory=tmp_path / "tmp",
        output_file=tmp_path / "output",
        input_file=tmp_path / "input",
        token_file=token_file,
    )


def test_metadata_from_top_level_claims(monkeypatch, tmp_path):
    token = tmp_path / "token"
    claims = {"sub": "container-11", "task_id": 12, "node_id": 8, "organization_id": 4}
    token.write_text(make_token({**claims, "collaboration_id": 5}) + "\n")
    set_node_env(monkeypatch, {"TOKEN_FILE": token}, encode=False)
    for var in ("TEMPORARY_FOLDER", "OUTPUT_FILE", "INPUT_FILE"):
        monkeypatch.delenv(var, raising=False)
    meta = get_run_metadata()
    assert (meta.task_id, meta.node_id, meta.organization_id, meta.collaboration_id) == (
        12,
        8,
        4,
        5,
    )
    assert meta.temporary_directory is None and meta.token_file == token


def test_mock_metadata():
    fake = RunMetaData(1, 2, 3, 4, None, None, None, None)
    meta, _ = with_meta(mock_metadata=fake)
    assert meta is fake
    assert with_meta.wrapped_in_metadata_decorator


def test_bad_token(monkeypatch, tmp_path):
    token = tmp_path / "token"
    token.write_text("not-a-jwt")
    set_node_env(monkeypatch, {"TOKEN_FILE": token})
    with pytest.raises(AlgorithmError, match="not a JWT"):
        with_meta()
